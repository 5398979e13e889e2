"""Rule-based constant-velocity forecaster (a leaderboard row).

Every agent keeps the velocity it had at the anchor (the ego plan is given); collisions
are then found with the exact labeller (oriented boxes, 100 Hz refinement). Off-road
needs no forecast at all: the map is static, so the footprint test against the drivable
area is exact and this row's off-road scores equal the truth by construction.
Occupancy: the extrapolated agents rasterised around the planned poses, plus the true
non-drivable cells.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from critic.occupancy import DrivableRaster, agent_occupancy, non_drivable
from schemas import CANONICAL_DT
from schemas.dataset import Dataset
from synth.config import LabelThresholds
from synth.kinematics import Plans
from synth.labels import AgentFutures, label_plans

from .models import BenchData, Predictions


class ConstantVelocityModel:
    name = "constant-velocity"

    def predict(self, bench: BenchData) -> dict[str, Predictions]:
        ds = Dataset(bench.data_dir)
        cols = ["sample_id", "scenario_id", "ego_track_id", "anchor_frame", "plan_x", "plan_y", "plan_heading", "plan_speed"]
        # the splits the dataset has, as load_splits reads them
        t = ds.counterfactuals([sp for sp in bench.splits if sp in ds.splits], columns=cols)
        pos = {s: i for i, s in enumerate(bench.arrays.sample_id)}
        t = t.filter(pa.array([s in pos for s in t.column("sample_id").to_pylist()], type=pa.bool_()))   # a subset of rows (a fold)
        R = bench.arrays.num_rows
        cr, orr = np.zeros(R), np.zeros(R)
        ct, ot = np.full(R, bench.horizon_s), np.full(R, bench.horizon_s)
        K = bench.arrays.occ.shape[1]
        occ = np.zeros((R, K, 2, bench.occ_size, bench.occ_size), np.float32)
        scns = ds.read_scenarios(sorted(set(t.column("scenario_id").to_pylist())))
        keys = zip(*(t.column(c).to_pylist() for c in ("scenario_id", "ego_track_id", "anchor_frame")))
        groups: dict = {}
        for i, key in enumerate(keys):
            groups.setdefault(key, []).append(i)
        px, py = np.array(t.column("plan_x").to_pylist()), np.array(t.column("plan_y").to_pylist())
        ph, ps = np.array(t.column("plan_heading").to_pylist()), np.array(t.column("plan_speed").to_pylist())
        ids = t.column("sample_id").to_pylist()
        T = px.shape[1]
        tt = np.arange(T) * CANONICAL_DT
        for (sid, ego, anchor), rows in groups.items():
            scn = scns[sid].with_ego(ego)
            e = scn.ego_index
            others = np.array([i for i in range(scn.num_agents) if i != e], dtype=int)
            v0 = scn.valid[others, anchor]
            x0, y0 = np.nan_to_num(scn.x[others, anchor]), np.nan_to_num(scn.y[others, anchor])
            vx, vy = np.nan_to_num(scn.vx[others, anchor]), np.nan_to_num(scn.vy[others, anchor])
            ag = AgentFutures(
                x=(x0[:, None] + vx[:, None] * tt)[None], y=(y0[:, None] + vy[:, None] * tt)[None],
                heading=np.repeat(np.nan_to_num(scn.heading[others, anchor])[:, None], T, 1)[None],
                vx=np.repeat(vx[:, None], T, 1)[None], vy=np.repeat(vy[:, None], T, 1)[None],
                length=np.repeat(np.nan_to_num(scn.length[others, anchor])[:, None], T, 1)[None],
                width=np.repeat(np.nan_to_num(scn.width[others, anchor])[:, None], T, 1)[None],
                valid=np.repeat(v0[:, None], T, 1)[None], object_type=scn.object_type[others])
            r = np.array(rows)
            ego = Plans.from_states(px[r], py[r], ph[r], ps[r])
            lab = label_plans(ego, ag, scn.map.drivable_area, None, CANONICAL_DT, LabelThresholds(),
                              length=float(scn.length[e, anchor]), width=float(scn.width[e, anchor]))
            out = np.array([pos[ids[i]] for i in rows])
            hit = lab.collision_at_fault
            cr[out], orr[out] = hit.astype(float), lab.offroad.astype(float)
            ct[out] = np.where(hit, lab.collision_time_s, bench.horizon_s)
            ot[out] = np.where(lab.offroad, lab.offroad_time_s, bench.horizon_s)
            k = (np.arange(1, K + 1) * (T - 1) // K)
            ex, ey, eh = px[r][:, k], py[r][:, k], ph[r][:, k]
            occ[out, :, 0] = agent_occupancy(ex, ey, eh, ag.x[:, :, k], ag.y[:, :, k], ag.heading[:, :, k],
                                             ag.length[:, :, k], ag.width[:, :, k], ag.valid[:, :, k],
                                             np.zeros(len(r), np.int64), bench.occ_size, bench.occ_cell_m)
            m = 0.75 * bench.occ_size * bench.occ_cell_m
            raster = DrivableRaster(scn.map.drivable_area, ex.min() - m, ey.min() - m, ex.max() + m, ey.max() + m)
            occ[out, :, 1] = non_drivable(raster, ex, ey, eh, bench.occ_size, bench.occ_cell_m)
        return {self.name: Predictions(cr, orr, ct, ot, occ)}
