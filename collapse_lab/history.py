"""The record of a run of :func:`collapse_lab.loop.run`: one row per generation, columns as numpy arrays, so
``plt.plot(h["generation"], h["var"])`` works directly."""
from __future__ import annotations

import csv
import itertools
import json
import math
from typing import Any, Mapping, Sequence

import numpy as np

from . import validate


class History:
    """Per-generation records: a list of dict rows; ``h["col"]`` is a numpy column, ``h.rows`` the raw rows.

    ``models`` holds the models kept by ``run(..., keep=...)``, keyed by generation.
    """

    def __init__(self, rows: list[dict] | None = None, models: dict | None = None, meta: dict | None = None):
        if rows is not None and (not isinstance(rows, (list, tuple)) or not all(isinstance(r, Mapping) for r in rows)):
            raise validate.ArgumentError(f"rows must be a list of dicts (one per generation); got {rows!r:.60}")
        for name, d in (("models", models), ("meta", meta)):
            if d is not None and not isinstance(d, Mapping):
                raise validate.ArgumentError(f"{name} must be a dict or None; got {type(d).__name__}")
        self.rows = [dict(r) for r in rows or []]
        self.models = dict(models or {})
        self.meta = dict(meta or {})

    def __len__(self):
        return len(self.rows)

    @property
    def columns(self) -> list[str]:
        """The column names, in the order they first appear in the rows."""
        return list(dict.fromkeys(itertools.chain.from_iterable(self.rows)))

    def __getitem__(self, col: str) -> np.ndarray:
        if not isinstance(col, str):
            raise validate.ArgumentError(f"History columns are indexed by name (str); got {col!r:.60}; use .rows[i] "
                                         "for a row")
        if not any(col in r for r in self.rows):
            raise KeyError(f"no column {col!r}; columns are {self.columns}")
        return np.array([r.get(col, math.nan) for r in self.rows])

    def append(self, row: Mapping[str, Any]) -> None:
        if not isinstance(row, Mapping):
            raise validate.ArgumentError(f"row must be a dict column -> value; got {type(row).__name__}")
        self.rows.append(dict(row))

    def last(self, col: str):
        """The value of column ``col`` in the last row."""
        if not isinstance(col, str) or col not in self.columns:
            raise validate.ArgumentError(f"col must be the name of a column, one of {self.columns}; got {col!r:.60}")
        if not self.rows:
            raise ValueError("the history is empty: no last row")
        return self.rows[-1].get(col, math.nan)

    def to_csv(self, path) -> None:
        """Write the rows to ``path`` as CSV (one column per metric)."""
        path = validate.path("path", path, kind="file")
        cols = self.columns
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(self.rows)

    def to_json(self, path) -> None:
        """Write meta and rows to ``path`` as JSON (read back with :meth:`from_json`)."""
        path = validate.path("path", path, kind="file")
        with open(path, "w") as f:
            json.dump({"meta": self.meta, "rows": self.rows}, f, indent=1, default=float)

    @classmethod
    def from_json(cls, path) -> "History":
        """A History written by :meth:`to_json`."""
        path = validate.path("path", path, kind="file", must_exist=True)
        with open(path) as f:
            d = json.load(f)
        return cls(d["rows"], meta=d.get("meta"))

    def __repr__(self):
        return self.table(max_rows=12)

    def table(self, cols: Sequence[str] | None = None, max_rows: int | None = None, digits: int = 4) -> str:
        """The history as an aligned text table (every column, or ``cols``); ``max_rows`` shows the first and last
        rows only; ``digits`` significant digits of floats."""
        if cols is not None and (isinstance(cols, (str, bytes)) or not hasattr(cols, "__iter__")
                                 or not all(isinstance(c, str) for c in cols)):
            raise validate.ArgumentError(f"cols must be a list of column names; got {cols!r:.60}")
        if cols is not None and not list(cols):
            raise validate.ArgumentError("cols must name at least one column (or be None: every column)")
        if max_rows is not None:
            max_rows = validate.integer("max_rows", max_rows, 2)
        digits = validate.integer("digits", digits, 1, 17)
        cols = list(cols or self.columns)
        rows = self.rows
        if max_rows is not None and len(rows) > max_rows:
            half = max_rows // 2
            rows = rows[:half] + [None] + rows[-half:]

        def fmt(v):
            if isinstance(v, float):
                return f"{v:.{digits}g}"
            return str(v)

        cells = [[fmt(r.get(c, "")) if r is not None else "..." for c in cols] for r in rows]
        widths = [max(len(c), *(len(x[i]) for x in cells)) if cells else len(c) for i, c in enumerate(cols)]
        line = lambda xs: "  ".join(x.rjust(w) for x, w in zip(xs, widths))  # noqa: E731
        return "\n".join([line(cols), *(line(x) for x in cells)])
