"""One reader of a synthesized dataset: its manifest, its splits and the partitions it lists.

A dataset folder, as ``impartial synth`` writes it::

    _manifest.json                                       run facts, configuration, and per shard
                                                         the files it published (sha256, rows)
    _shards/<shard>.json                                 one marker per shard (copied into the manifest)
    scenarios/part-<shard>.parquet                       canonical tracks (``SCENARIOS_SCHEMA``)
    map_features/part-<shard>.parquet                    canonical map features (``MAP_FEATURES_SCHEMA``)
    signals/part-<shard>.parquet                         signal states per controlled lane and frame
                                                         (``SIGNALS_SCHEMA``; zero rows without signals)
    counterfactuals/split=<split>/part-<shard>.parquet   one row per plan (``counterfactuals_schema``)

Only the partitions that the manifest lists for a shard with status ``ok`` are read: a file on
disk that the manifest does not list (a stray, a leftover of another run, a failed shard's
output) is never read. Partitions of one kind and split are read in the order of their names
(shard order), so every table equals the one a sorted glob of the folder gave.
"""
from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .convert import tables_to_scenarios
from .errors import InputError
from .scenario import Scenario

MANIFEST = "_manifest.json"
#: the tables of a dataset, each a folder of partitions
KINDS = ("scenarios", "map_features", "signals", "counterfactuals")
#: the splits in their canonical order (``Dataset.splits`` lists the present ones in this order)
SPLITS = ("train", "val", "test")
_PART = re.compile(r"^(?P<kind>scenarios|map_features|signals)/part-[^/]+\.parquet$"
                   r"|^counterfactuals/split=(?P<split>[A-Za-z0-9_-]+)/part-[^/]+\.parquet$")


@dataclasses.dataclass(frozen=True)
class Partition:
    """One published Parquet file of a dataset, as its manifest lists it."""

    rel: str
    """Path relative to the dataset folder, ``/``-separated (``counterfactuals/split=val/part-00003.parquet``)."""
    kind: str
    """``scenarios`` | ``map_features`` | ``signals`` | ``counterfactuals``."""
    split: str | None
    """The split of a counterfactual partition; None for the other kinds."""
    shard: str
    """Name of the shard that wrote it (``00003``)."""
    rows: int
    """Row count recorded at publication."""
    sha256: str
    """Hex sha256 of the file recorded at publication (checked by ``impartial validate``, not here)."""


def _fail(where: Path, field: str | None, reason: str) -> InputError:
    return InputError(reason, path=str(where), field=field)


#: shard statuses whose partitions are part of the dataset
PUBLISHED = ("ok", "partial")


def _partitions(man: dict, where: Path) -> tuple[Partition, ...]:
    """Every partition of the manifest's published shards (status ``ok``, or ``partial``: some inputs failed, the
    others published), sorted by ``rel`` (validated)."""
    shards = man.get("shards")
    if not isinstance(shards, list):
        raise _fail(where, "shards", "missing or not a list")
    out: dict[str, Partition] = {}
    for i, shard in enumerate(shards):
        if not isinstance(shard, dict) or not isinstance(shard.get("files"), dict):
            raise _fail(where, f"shards[{i}]", "not an object with a 'files' object")
        if shard.get("status") not in PUBLISHED:
            continue
        for rel, meta in shard["files"].items():
            field = f"shards[{i}].files[{rel!r}]"
            m = _PART.match(rel) if isinstance(rel, str) else None
            if m is None:
                raise _fail(where, field, "not a partition path (<kind>/part-*.parquet or "
                                          "counterfactuals/split=<split>/part-*.parquet)")
            if not isinstance(meta, dict) or not isinstance(meta.get("rows"), int) or meta["rows"] < 0 \
                    or not isinstance(meta.get("sha256"), str):
                raise _fail(where, field, "needs 'rows' (a count) and 'sha256' (hex)")
            if rel in out:
                raise _fail(where, field, f"listed by shards {out[rel].shard} and {shard.get('shard')}")
            out[rel] = Partition(rel, m["kind"] or "counterfactuals", m["split"], str(shard.get("shard", i)),
                                 meta["rows"], meta["sha256"])
    return tuple(out[rel] for rel in sorted(out))


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A synthesized dataset folder, read through its manifest (module docstring).

    ``Dataset(path)`` reads and checks ``path/_manifest.json`` at once: a missing or malformed
    manifest raises :class:`InputError` naming the file and the field.
    """

    path: Path
    manifest: dict = dataclasses.field(init=False, repr=False, compare=False)
    """The parsed ``_manifest.json`` (treat as read-only)."""
    partitions: tuple[Partition, ...] = dataclasses.field(init=False, repr=False, compare=False)
    """Every listed partition of the ``ok`` shards, sorted by path."""

    def __post_init__(self):
        path = Path(self.path)
        where = path / MANIFEST
        try:
            man = json.loads(where.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise _fail(where, None, "missing (not a dataset written by impartial synth)") from None
        except (OSError, UnicodeDecodeError) as err:
            raise _fail(where, None, f"unreadable ({err})") from None
        except json.JSONDecodeError as err:
            raise _fail(where, None, f"not JSON ({err.msg} at line {err.lineno})") from None
        if not isinstance(man, dict):
            raise _fail(where, None, "not a JSON object")
        cfg = man.get("config")
        synth = cfg.get("synth") if isinstance(cfg, dict) else None
        if not isinstance(synth, dict):
            raise _fail(where, "config.synth", "missing or not an object")
        for key, kind in (("horizon_steps", int), ("history_steps", int), ("dt", (int, float))):
            if not isinstance(synth.get(key), kind) or isinstance(synth.get(key), bool) or synth[key] <= 0:
                raise _fail(where, f"config.synth.{key}", "missing or not a positive number")
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "manifest", man)
        object.__setattr__(self, "partitions", _partitions(man, where))

    # -- facts of the manifest ------------------------------------------------------------------
    @property
    def config(self) -> dict:
        """The resolved pipeline configuration (a ``PipelineConfig`` as a dict: ``synth``, ``seed``, ...)."""
        return self.manifest["config"]

    @property
    def horizon_steps(self) -> int:
        """Steps of a plan after its anchor (a plan has ``horizon_steps + 1`` states)."""
        return self.config["synth"]["horizon_steps"]

    @property
    def plan_states(self) -> int:
        """States of every plan column (``plan_x`` ...): the anchor state plus ``horizon_steps``."""
        return self.horizon_steps + 1

    @property
    def history_steps(self) -> int:
        """Steps of history before the anchor that the synthesis used."""
        return self.config["synth"]["history_steps"]

    @property
    def dt(self) -> float:
        """Time step of the plans and labels (s)."""
        return float(self.config["synth"]["dt"])

    @property
    def source(self) -> str | None:
        """What the dataset was synthesized from (``procedural`` or an input folder)."""
        return self.manifest.get("source")

    @property
    def seed(self) -> int | None:
        """The pipeline's seed."""
        return self.manifest.get("seed")

    @property
    def created(self) -> str:
        """ISO time stamp of the run that wrote the manifest (``""`` when absent)."""
        return self.manifest.get("created", "")

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits with at least one listed counterfactual partition (``train``, ``val``, ``test``
        order; other names after them, sorted)."""
        present = {p.split for p in self.partitions if p.kind == "counterfactuals"}
        return tuple(s for s in SPLITS if s in present) + tuple(sorted(present - set(SPLITS)))

    def files(self, kind: str, split: str | None = None) -> tuple[Path, ...]:
        """Paths of the listed partitions of ``kind`` (of ``split`` for counterfactuals), sorted by name."""
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r}: one of {KINDS}")
        return tuple(self.path / p.rel for p in self.partitions
                     if p.kind == kind and (split is None or p.split == split))

    # -- tables -----------------------------------------------------------------------------------
    def counterfactuals(self, split: str | Sequence[str], columns: Sequence[str] | None = None) -> pa.Table:
        """The counterfactual rows of ``split`` (or of several splits, in the order given), every
        listed partition of a split in name order, rows as stored; only ``columns`` when given.

        Raises InputError for a split without listed partitions, a listed partition that is
        missing or unreadable, or one that lacks a requested column (``field`` names it)."""
        splits = (split,) if isinstance(split, str) else tuple(split)
        if not splits:
            raise InputError("no split asked for", path=str(self.path / "counterfactuals"), field="split")
        tables = []
        for sp in splits:
            files = self.files("counterfactuals", sp)
            if not files:
                raise InputError(f"no counterfactual partitions for split {sp!r} in the manifest",
                                 path=str(self.path / "counterfactuals" / f"split={sp}"), field="split")
            tables += [_read(f, columns) for f in files]
        return pa.concat_tables(tables)

    def scenarios(self, ids: Iterable[str] | None = None) -> pa.Table:
        """The canonical ``scenarios`` table (every listed partition, or the rows of ``ids`` only)."""
        return self._canonical("scenarios", ids)

    def map_features(self, ids: Iterable[str] | None = None) -> pa.Table:
        """The canonical ``map_features`` table (every listed partition, or the rows of ``ids`` only)."""
        return self._canonical("map_features", ids)

    def signals(self, ids: Iterable[str] | None = None) -> pa.Table:
        """The canonical ``signals`` table (every listed partition, or the rows of ``ids`` only)."""
        return self._canonical("signals", ids)

    def read_scenarios(self, ids: Iterable[str] | None = None) -> dict[str, Scenario]:
        """Canonical Scenarios ``{scenario_id: Scenario}`` with their signals (only ``ids`` when given)."""
        ids = None if ids is None else list(ids)
        return {s.scenario_id: s for s in tables_to_scenarios(self.scenarios(ids), self.map_features(ids),
                                                              self.signals(ids), where=str(self.path))}

    def _canonical(self, kind: str, ids: Iterable[str] | None) -> pa.Table:
        """One read of every listed partition of ``kind``, filtered by scenario id. A filtered read
        drops the per-file schema metadata; it is restored from the first partition so the
        schema-version check of :func:`tables_to_scenarios` still applies."""
        files = self.files(kind)
        if not files:
            raise InputError("no partitions in the manifest", path=str(self.path / kind))
        for f in files:
            if not f.exists():
                raise InputError("partition listed in the manifest is missing", path=str(f))
        filters = None if ids is None else [("scenario_id", "in", list(ids))]
        t = pq.read_table([str(f) for f in files], filters=filters, partitioning=None)  # no columns from folder names
        return t.replace_schema_metadata(pq.read_schema(files[0]).metadata)


def _read(path: Path, columns: Sequence[str] | None) -> pa.Table:
    """One partition (only ``columns`` when given); errors name the file and the missing column."""
    try:
        names = pq.read_schema(path).names
    except FileNotFoundError:
        raise InputError("partition listed in the manifest is missing", path=str(path)) from None
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"unreadable parquet ({err})", path=str(path)) from None
    for c in columns or ():
        if c not in names:
            raise InputError("column missing", path=str(path), field=c)
    return pq.read_table(path, columns=None if columns is None else list(columns))
