"""The tidy CSV a sweep writes: its columns, the row-by-row partial file, and a validated reader.

Rows are appended to ``bench.csv.partial`` and flushed as each case finishes, so a run that is
killed keeps what it measured; the file is renamed to ``bench.csv`` only when the sweep is
complete, so ``bench.csv`` never holds a half-finished sweep.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

COLUMNS = (
    "method",
    "N",
    "B",
    "H",
    "D",
    "dtype",
    "causal",
    "pass",
    "median_ms",
    "p20_ms",
    "p80_ms",
    "peak_mem_bytes",
    "repeats",
    "status",
    "reason",
    "device",
)
KEY = ("method", "N", "dtype", "causal", "pass")
STATUSES = ("ok", "oom", "unsupported")
PARTIAL_SUFFIX = ".partial"
_NUMERIC = ("N", "B", "H", "D", "median_ms", "p20_ms", "p80_ms", "peak_mem_bytes", "repeats")


def row_key(row: dict[str, Any]) -> tuple[str, ...]:
    """The identity of a case (method, N, dtype, causal, pass) as text, as the CSV holds it."""
    return tuple(str(row[column]) for column in KEY)


class PartialTable:
    """``<path>.partial``, appended to row by row; ``finish`` renames it to ``path``."""

    def __init__(self, path: str | Path, resume: bool) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        self.rows: list[dict[str, str]] = []  # every row in the file, resumed ones first
        if resume:
            self.rows = self._read_existing()
        else:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            with open(self.partial, "w", newline="") as handle:
                csv.writer(handle).writerow(COLUMNS)

    def _read_existing(self) -> list[dict[str, str]]:
        if not self.partial.is_file():
            raise FileNotFoundError(f"nothing to resume: {self.partial} does not exist")
        with open(self.partial, newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise ValueError(
                    f"{self.partial} has columns {reader.fieldnames}, expected {list(COLUMNS)}"
                )
            return list(reader)

    def append(self, row: dict[str, Any]) -> None:
        """Write one row and push it to disk, so a killed run keeps it."""
        cells = {column: _cell(row.get(column)) for column in COLUMNS}
        with open(self.partial, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=COLUMNS).writerow(cells)
            handle.flush()
            os.fsync(handle.fileno())
        self.rows.append({column: str(value) for column, value in cells.items()})

    def finish(self) -> Path:
        """Rename the partial file to the final CSV."""
        os.replace(self.partial, self.path)
        return self.path


def write_table(path: str | Path, rows: list[dict[str, str]]) -> Path:
    """Write ``rows`` (the CSV's columns) to ``path`` at once: a temporary file renamed in place."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({column: row[column] for column in COLUMNS} for row in rows)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


def _cell(value: Any) -> Any:
    return "" if value is None else value


def read_table(path: str | Path):
    """A bench CSV as a pandas DataFrame, checked for its columns and status values."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"bench CSV {path} does not exist")
    table = pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in _NUMERIC})
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing} of a bench CSV")
    if table.empty:
        raise ValueError(f"{path} holds no rows")
    bad = [s for s in table["status"].astype(str) if s not in STATUSES and not _is_error(s)]
    if bad:
        raise ValueError(
            f"{path}: status must be ok, oom, unsupported or 'error: ...', got {bad[:3]}"
        )
    for column in _NUMERIC:
        try:
            table[column] = pd.to_numeric(table[column], errors="raise")
        except ValueError as error:
            raise ValueError(f"{path}: column {column} must hold numbers: {error}") from None
    table["causal"] = table["causal"].astype(str).map({"True": True, "False": False})
    if table["causal"].isna().any():
        raise ValueError(f"{path}: column causal must hold True or False")
    return table


def _is_error(status: str) -> bool:
    return status.startswith("error: ")
