"""Run the Great Expectations suites of :mod:`schemas.expectations` on a table.

Great Expectations is imported lazily (it takes seconds) with its usage analytics
switched off: nothing here touches the network.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os

import pyarrow as pa

from schemas.expectations import SUITES


@dataclasses.dataclass(frozen=True)
class ValidationReport:
    """Result of one suite on one table: ``success`` and one line per failed expectation."""

    table: str
    success: bool
    failures: tuple[str, ...]
    evaluated: int

    def summary(self) -> str:
        if self.success:
            return f"{self.table}: {self.evaluated} expectations passed"
        return f"{self.table}: " + "; ".join(self.failures)


def _literal(text: str):
    text = text.strip()
    if text in ("True", "False"):
        return text == "True"
    if text[:1] in "\"'" and text[-1:] == text[:1]:
        return text[1:-1]
    return float(text)


def _condition(text: str):
    """Great Expectations condition object from ``"col==value [and col==value ...]"``."""
    from great_expectations.expectations.row_conditions import Column

    cond = None
    for part in text.split(" and "):
        col, value = part.split("==")
        term = Column(col.strip()) == _literal(value)
        cond = term if cond is None else cond & term
    return cond


def make_context(root: str | None = None):
    """GE context with one pandas asset and one suite per table: ``(ctx, batch_definitions, suites)``.

    ``root=None`` gives an in-memory context; a folder gives a file context whose Data
    Docs can be built there.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral") if root is None else gx.get_context(mode="file", project_root_dir=root)
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    except (ImportError, AttributeError, TypeError):
        pass
    ds = ctx.data_sources.add_or_update_pandas("impartial")
    batches, suites = {}, {}
    for name, decl in SUITES.items():
        asset = ds.get_asset(name) if name in [a.name for a in ds.assets] else ds.add_dataframe_asset(name)
        batches[name] = (asset.get_batch_definition("whole") if "whole" in [b.name for b in asset.batch_definitions]
                         else asset.add_batch_definition_whole_dataframe("whole"))
        suite = gx.ExpectationSuite(name=name)
        for cls_name, kwargs in decl:
            kwargs = dict(kwargs)
            if "row_condition" in kwargs:
                kwargs.pop("condition_parser", None)
                kwargs["row_condition"] = _condition(kwargs["row_condition"])
            suite.add_expectation(getattr(gx.expectations, cls_name)(**kwargs))
        suites[name] = ctx.suites.add_or_update(suite)
    return ctx, batches, suites


@functools.lru_cache(maxsize=1)
def _context():
    return make_context()


def to_frame(table: pa.Table):
    """DataFrame a suite runs on: list columns dropped (checked by the Arrow schema), WKB as byte length."""
    keep = [f.name for f in table.schema if not pa.types.is_list(f.type) and not pa.types.is_fixed_size_list(f.type)]
    df = table.select(keep).to_pandas()
    if "geometry" in df:
        df["geometry"] = df["geometry"].map(lambda b: None if b is None else len(b))
    return df


def validate_table(name: str, table: pa.Table) -> ValidationReport:
    """Validate ``table`` against the suite ``name`` (scenarios, map_features, counterfactuals)."""
    if name not in SUITES:
        raise ValueError(f"no expectation suite named {name!r} (have {sorted(SUITES)})")
    _, batches, suites = _context()
    result = batches[name].get_batch(batch_parameters={"dataframe": to_frame(table)}).validate(suites[name])
    failures = []
    for r in result.results:
        if not r.success:
            cfg = r.expectation_config
            where = cfg.kwargs.get("column") or cfg.kwargs.get("column_list")
            cond = _condition_text(cfg.kwargs.get("row_condition"))
            sample = (r.result or {}).get("partial_unexpected_list", [])[:3]
            failures.append(f"{cfg.type}({where}{', where ' + cond if cond else ''}) failed"
                            f"{' on ' + str((r.result or {}).get('unexpected_count')) + ' rows, e.g. ' + repr(sample) if sample else ''}")
    return ValidationReport(name, bool(result.success), tuple(failures), len(result.results))


def _condition_text(cond) -> str:
    """Readable form of a row condition (GE hands it back as a dict or an object)."""
    if not cond:
        return ""
    if isinstance(cond, dict):
        if "conditions" in cond:
            return " and ".join(_condition_text(c) for c in cond["conditions"])
        col = cond.get("column", {})
        name = col.get("name") if isinstance(col, dict) else col
        return f"{name}{_OPS.get(str(cond.get('operator')), str(cond.get('operator')))}{cond.get('parameter')!r}"
    return str(cond)


_OPS = {"==": "==", "Operator.EQUAL": "==", "EQUAL": "=="}


def check_counterfactual_rules(table: pa.Table, where: str) -> None:
    """Rules a column-wise suite cannot state: one log per scenario, one split per log, equal to its hash split."""
    from schemas import InputError
    from schemas.splits import split_of

    sids, logs = table.column("scenario_id").to_pylist(), table.column("log_id").to_pylist()
    splits = table.column("split").to_pylist()
    log_of: dict[str, str] = {}
    seen: dict[str, str] = {}
    for sid, log, sp in zip(sids, logs, splits):
        if log_of.setdefault(sid, log) != log:
            raise InputError(f"scenario {sid!r} names logs {log_of[sid]!r} and {log!r}", path=where, field="log_id")
        if seen.setdefault(log, sp) != sp:
            raise InputError(f"log {log!r} appears in splits {seen[log]!r} and {sp!r}", path=where, field="split")
    for log, sp in seen.items():
        if split_of(log) != sp:
            raise InputError(f"log {log!r} is in {sp!r}, its hash split is {split_of(log)!r}", path=where,
                             field="split")
    for sid, sp in seen.items():
        if split_of(sid) != sp:
            raise InputError(f"scenario {sid!r} is in {sp!r}, its hash split is {split_of(sid)!r}", path=where,
                             field="split")
