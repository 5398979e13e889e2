"""Atomic Parquet writes: temp file, read back and check, then rename into place."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import InputError, check_schema
from schemas.atomic import atomic_write


def write_parquet_atomic(table: pa.Table, path: str | Path, schema: pa.Schema, validate=None) -> Path:
    """Write ``table`` to ``path`` so that a crash never leaves a half-written file there.

    The table is written to a hidden temp file in the same directory (``.<name>.<8 hex>.tmp``),
    read back and checked against ``schema`` (and ``validate(table)`` when given, which raises
    on failure), fsynced, then renamed over ``path`` (:func:`schemas.atomic.atomic_write`).
    """
    def check(tmp: Path) -> None:
        back = pq.read_table(tmp)
        check_schema(back, schema, str(tmp))
        if back.num_rows != table.num_rows:
            raise InputError(f"read back {back.num_rows} rows, wrote {table.num_rows}", path=str(tmp))
        if validate is not None:
            validate(back)

    return atomic_write(path, lambda tmp: pq.write_table(table.cast(schema), tmp, compression="zstd"), check)


def read_parquet_checked(path: str | Path, schema: pa.Schema) -> pa.Table:
    """Read a Parquet file and check it against ``schema``; errors name the file."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"unreadable parquet ({err})", path=str(path)) from None
    check_schema(table, schema, str(path))
    return table
