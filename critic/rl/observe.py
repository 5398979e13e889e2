"""Observations at any step of a closed-loop episode: the critic's scene features and the
policy's compact vector.

The episode's timeline is the scenario's, with the ego's frames from the anchor on replaced
by the simulated trajectory and perturbed agents' frames by their perturbed futures;
:func:`critic.features.agent_features` reads it exactly as in training (ego frame at the
current step). Map features are computed once per episode at the anchor and moved rigidly
to the current ego frame (the polyline selection stays the anchor's).
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np

from critic.columns import AgentCol, MapCol
from critic.config import FeatureConfig
from critic.features import agent_features, agent_features_for_egos, map_features, plan_features, signal_kinds
from critic.scene import SceneBatch
from schemas import CANONICAL_DT
from schemas.tracks import KINEMATIC_FIELDS, TRACK_FIELDS, Tracks
from synth.kinematics import Plans
from synth.sim import Episode

NEAREST = 6
AGENT_OBS = 12
LEAD_OBS = 5
OBS_DIM = 2 + LEAD_OBS + NEAREST * AGENT_OBS + 3


@dataclasses.dataclass(frozen=True, eq=False)
class TrackView(Tracks):
    """The scenario's :class:`~schemas.tracks.Tracks` ``[num_agents, num_frames]`` (writable copies,
    scenario frame) with the simulated / perturbed frames substituted, and the ego's row (what
    :func:`critic.features.agent_features` reads)."""

    ego_index: int


def track_view(ep: Episode) -> TrackView:
    """Timeline of ``ep``: the scenario's arrays (copies) with perturbed agents substituted."""
    scn, ctx = ep.ctx.scenario, ep.ctx
    arr = {k: np.array(getattr(scn, k), dtype=float) for k in TRACK_FIELDS}
    a0, H = ctx.anchor, ctx.steps
    valid = np.array(scn.valid, dtype=bool)
    if ep.agents is not ctx.agents:  # substitute perturbed (or predicted) futures of the kept agents
        rows = np.array([list(scn.track_id).index(t) for t in ctx.agent_ids], dtype=int)
        for k in KINEMATIC_FIELDS:
            arr[k][rows, a0: a0 + H + 1] = getattr(ep.agents, k)[0]
        valid[rows, a0: a0 + H + 1] = ep.agents.valid[0]
    return TrackView(**arr, valid=valid, object_type=np.asarray(scn.object_type), ego_index=scn.ego_index)


class Observer:
    """Builds observations of one episode at closed-loop steps.

    Holds the episode's timeline once; each call writes the ego's trajectory from the anchor
    into it (frames after the current step are never read, so earlier calls leave no trace).
    """

    def __init__(self, ep: Episode, fc: FeatureConfig):
        self.ep, self.fc = ep, fc
        self.view = track_view(ep)
        self.map0, self.map_mask, self.signal_lanes = map_features(ep.ctx.scenario, ep.ctx.anchor, fc,
                                                                   return_signal_lanes=True)
        x0, y0, h0 = ep.ctx.anchor_state[:3]
        c0, s0 = np.cos(h0), np.sin(h0)   # map points in the scenario frame, for re-expression
        mx, my = self.map0[..., MapCol.X], self.map0[..., MapCol.Y]
        self.map_x = x0 + c0 * mx - s0 * my
        self.map_y = y0 + s0 * mx + c0 * my

    def for_episode(self, ep: Episode) -> "Observer":
        """An observer of another version of the same anchor (e.g. :meth:`Episode.predicted_at`),
        sharing this one's map features."""
        if ep.ctx is not self.ep.ctx:
            raise ValueError("Observer.for_episode: the episode must share this observer's anchor context")
        other = copy.copy(self)
        other.ep, other.view = ep, track_view(ep)
        return other

    def critic_scene(self, ego: Plans) -> SceneBatch:
        """The critic's scene at the last frame of ``ego`` ``[1, k + 1]``: a numpy :class:`~critic.scene.SceneBatch`
        of one scene (``[1, ...]``, no drivable raster) in the ego frame of :func:`ego_pose` ``(ego)``."""
        return self._scene(ego)[0]

    def _scene(self, ego: Plans) -> tuple[SceneBatch, np.ndarray]:
        """:meth:`critic_scene` and the ego pose it is expressed at."""
        agents, mask, pose = self._agents(ego)
        frame = self.ep.ctx.anchor + ego.x.shape[1] - 1
        return SceneBatch(agents[None], mask[None], self._moved_map(pose, frame)[None], self.map_mask[None]), pose

    def _agents(self, ego: Plans) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Agent features, mask and ego pose ``(x, y, heading)`` with ``ego`` written into the timeline."""
        v, a0, e = self.view, self.ep.ctx.anchor, self.view.ego_index
        sl = slice(a0, a0 + ego.x.shape[1])
        v.x[e, sl], v.y[e, sl], v.heading[e, sl] = ego.x[0], ego.y[0], ego.heading[0]
        v.vx[e, sl], v.vy[e, sl] = ego.speed[0] * np.cos(ego.heading[0]), ego.speed[0] * np.sin(ego.heading[0])
        v.valid[e, sl] = True
        agents, mask = agent_features(v, sl.stop - 1, self.fc)
        return agents, mask, ego_pose(ego)

    def observe(self, ego: Plans, path_idx: int) -> tuple[np.ndarray, SceneBatch]:
        """Policy observation ``[OBS_DIM]`` and the critic scene (:meth:`critic_scene`) at the last
        frame of ``ego``; ``path_idx``: the ego's nearest sample of the reference path."""
        scene, pose = self._scene(ego)
        return policy_obs(scene.agents[0], scene.agents_mask[0], self.path_preview(pose, path_idx)), scene

    def policy_obs(self, ego: Plans, path_idx: int) -> np.ndarray:
        """Policy observation ``[OBS_DIM]`` alone (no map features) at the last frame of ``ego``."""
        agents, mask, pose = self._agents(ego)
        return policy_obs(agents, mask, self.path_preview(pose, path_idx))

    def policy_obs_batch(self, history: Plans, cands: Plans, path_idx: np.ndarray) -> np.ndarray:
        """Policy observations ``[A, OBS_DIM]`` at the last frame of each candidate continuation:
        ``history`` ``[1, k + 1]`` (the ego from the anchor to the decision) continued by ``cands``
        ``[A, t + 1]`` (frame 0 = the decision frame); ``path_idx`` ``[A]``. Equals :meth:`policy_obs`
        of each ``history + candidate`` without writing them into the timeline one by one."""
        v, a0, e = self.view, self.ep.ctx.anchor, self.view.ego_index
        H, k, A = self.fc.history_steps, history.x.shape[1] - 1, cands.x.shape[0]
        step = a0 + k + cands.x.shape[1] - 1
        frames = np.arange(step - H + 1, step + 1)
        logged = frames < a0                                       # the scenario's own ego history
        own = np.clip(frames - a0, 0, None)                        # index into history + candidate
        from_hist = own <= k
        ego = {}
        for name in ("x", "y", "heading", "speed"):
            h, c = getattr(history, name)[0], getattr(cands, name)
            ego[name] = np.where(from_hist[None], h[np.minimum(own, k)][None], c[:, np.clip(own - k, 0, None)])
        ego["vx"], ego["vy"] = ego["speed"] * np.cos(ego["heading"]), ego["speed"] * np.sin(ego["heading"])
        fr = np.clip(frames, 0, None)
        for name in ("x", "y", "heading", "vx", "vy"):
            ego[name] = np.where(logged[None], getattr(v, name)[e, fr][None], ego[name])
        ego["valid"] = np.broadcast_to(np.where(logged, v.valid[e, fr], True), (A, H))
        agents, mask = agent_features_for_egos(v, step, self.fc, ego)
        pose = np.stack([cands.x[:, -1], cands.y[:, -1], cands.heading[:, -1]], -1)
        return np.stack([policy_obs(agents[i], mask[i], self.path_preview(pose[i], int(path_idx[i]))) for i in range(A)])

    def _moved_map(self, pose: np.ndarray, frame: int) -> np.ndarray:
        """Anchor-frame map features re-expressed in the ego frame of ``pose``, with the signal polylines'
        states read at scenario frame ``frame`` (the observed step: signals change, the map does not)."""
        c, s = np.cos(pose[2]), np.sin(pose[2])
        dx, dy = self.map_x - pose[0], self.map_y - pose[1]
        out = self.map0.copy()
        out[..., MapCol.X] = np.where(self.map_mask, c * dx + s * dy, 0.0)
        out[..., MapCol.Y] = np.where(self.map_mask, -s * dx + c * dy, 0.0)
        rows = np.flatnonzero(self.signal_lanes >= 0)
        if len(rows):
            kinds = signal_kinds(self.ep.ctx.scenario, frame, self.signal_lanes[rows])
            out[rows, :, MapCol.KIND] = 0.0
            out[rows, :, MapCol.KIND_START + kinds] = 1.0
        return out

    def path_preview(self, pose: np.ndarray, idx: int) -> np.ndarray:
        """Heading change (rad) of the reference path 10, 20 and 40 m ahead of sample ``idx``."""
        p = self.ep.ctx.path
        n = self.ep.ctx.path_normals
        ahead = np.clip(idx + np.array([20, 40, 80]), 0, len(p) - 1)
        h = np.arctan2(-n[ahead, 0], n[ahead, 1])
        return (h - pose[2] + np.pi) % (2 * np.pi) - np.pi


def ego_pose(ego: Plans) -> np.ndarray:
    """``(x, y, heading)`` (m, rad; scenario frame) of the ego at the last frame of ``ego`` ``[1, k + 1]``:
    the pose whose ego frame the observations at that frame are expressed in."""
    return np.array([ego.x[0, -1], ego.y[0, -1], ego.heading[0, -1]])


def policy_obs(agents: np.ndarray, mask: np.ndarray, preview: np.ndarray) -> np.ndarray:
    """Compact policy observation ``[OBS_DIM]`` from the critic's agent features at one step.

    Ego speed and acceleration (last second); the lead (nearest agent ahead within 2 m of
    the ego's axis): present, bumper gap / 30 m, closing speed / 10 m/s, inverse time to
    contact (1/s, capped at 2), its speed change over the last second / 5; then the
    :data:`NEAREST` agents (ahead first) at the last frame: x, y, vx, vy (ego frame), speed
    change over the last second, length, width, one-hot type, valid; then the path preview.
    """
    H = agents.shape[1]
    ego_v = float(np.hypot(*agents[0, -1, AgentCol.VEL]))
    first = int(np.argmax(mask[0]))
    ego_a = (ego_v - float(np.hypot(*agents[0, first, AgentCol.VEL]))) / max((H - 1 - first) * CANONICAL_DT, CANONICAL_DT)
    last, ok = agents[1:, -1], mask[1:, -1]
    dist = np.hypot(last[:, AgentCol.X], last[:, AgentCol.Y]) + 50.0 * (last[:, AgentCol.X] < -3.0)
    order = np.argsort(np.where(ok, dist, np.inf))[:NEAREST]
    rows = np.zeros((NEAREST, AGENT_OBS), np.float32)
    for i, j in enumerate(order):
        if not ok[j]:
            continue
        f = agents[1 + j]
        v_then = f[int(np.argmax(mask[1 + j])), AgentCol.VEL]
        dv = np.hypot(*f[-1, AgentCol.VEL]) - np.hypot(*v_then)
        now = f[-1]
        rows[i] = [now[AgentCol.X] / 30, now[AgentCol.Y] / 10, now[AgentCol.VX] / 10, now[AgentCol.VY] / 10, dv / 5,
                   now[AgentCol.LENGTH] / 5, now[AgentCol.WIDTH] / 3, *now[AgentCol.TYPE], 1.0]
    lead = np.zeros(LEAD_OBS, np.float32)
    ego_len = float(agents[0, -1, AgentCol.LENGTH])
    ahead = ok & (last[:, AgentCol.X] > 0.0) & (np.abs(last[:, AgentCol.Y]) < 2.0)
    if ahead.any():
        j = int(np.flatnonzero(ahead)[np.argmin(last[ahead, AgentCol.X])])
        gap = max(float(last[j, AgentCol.X] - 0.5 * (last[j, AgentCol.LENGTH] + ego_len)), 0.0)
        closing = ego_v - float(last[j, AgentCol.VX])
        f = agents[1 + j]
        dv = np.hypot(*f[-1, AgentCol.VEL]) - np.hypot(*f[int(np.argmax(mask[1 + j])), AgentCol.VEL])
        lead[:] = [1.0, min(gap / 30, 3.0), closing / 10, min(max(closing, 0.0) / max(gap, 0.5), 2.0), dv / 5]
    return np.concatenate([[ego_v / 10, ego_a / 4], lead, rows.ravel(), preview]).astype(np.float32)


def candidate_plans(traj: Plans, pose: np.ndarray) -> np.ndarray:
    """Critic plan features ``[N, plan_steps, 5]`` of candidate trajectories ``[N, plan_steps + 1]``."""
    return plan_features(traj.x, traj.y, traj.heading, traj.speed, pose)
