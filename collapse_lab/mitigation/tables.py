"""The closing synthesis table, printed from measured numbers."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from ..validate import integer as _int



# ---------------------------------------------------------------------------------------------------------------
# 6. tables


def format_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None, digits: int = 3) -> str:
    """Rows (dicts) as an aligned text table; floats with ``digits`` significant digits, missing cells blank."""
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, Mapping) for r in rows):
        raise TypeError(f"rows must be a list of dicts; got {rows!r:.60}")
    if columns is not None and (isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__")
                                or not list(columns) or not all(isinstance(c, str) for c in columns)):
        raise TypeError(f"columns must be a non-empty list of column names (or None: every key); got {columns!r:.60}")
    digits = _int("digits", digits, 1, 17)
    cols = list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "nan" if not math.isfinite(v) else f"{v:.{digits}g}"
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(x[i]) for x in cells]) for i, c in enumerate(cols)]
    line = lambda xs: "  ".join(x.ljust(w) for x, w in zip(xs, widths)).rstrip()  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(x) for x in cells)])
