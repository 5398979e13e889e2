"""Pipelines: the ``impartial`` command line, Parquet I/O and validation."""
