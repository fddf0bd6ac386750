"""The batch all of :mod:`collapse_lab.em` works on, and its few heavy operations.

A batch is C data sets of n points in d dimensions, (C, n, d), handled coordinates first (C, d, n) so that every
pass over the points runs along contiguous rows. The matrix products and exponentials go through torch (vectorised
on AVX2 machines, where numpy's float64 ``exp`` is not), and the large working arrays are kept per thread from one
fit to the next.
"""
from __future__ import annotations

import functools
import math
import threading

import numpy as np

from .. import validate


def _as_batch(x):
    x = validate.array("x", x, ndim=(2, 3))
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"x must be data sets of shape (C, n, d) (or one (n, d)); got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite")
    return x


def _sqsum(a):
    """Sum of squares over the last (short) axis, as element-wise passes: numpy reduces a short axis slowly."""
    out = a[..., 0] ** 2
    for j in range(1, a.shape[-1]):
        out += a[..., j] ** 2
    return out


def _rowsq(xt):
    """Squared norms (C, n) of the points xt (C, d, n), summed over coordinates in order as :func:`_sqsum` does."""
    out = xt[:, 0] ** 2
    for j in range(1, xt.shape[1]):
        out += xt[:, j] ** 2
    return out


def _exp_(a):
    """``a = exp(a)`` in place. torch's float64 exponential is vectorised on AVX2 (numpy's only on AVX-512): about
    3 ns per value against 9, and it is a third of an E-step. Blocks of at most torch's grain size (32,768 values)
    run on the calling thread, so chains already spread over the cores do not also compete for torch's pool."""
    torch = _torch()
    flat = torch.from_numpy(a.reshape(-1))
    if flat.numel() <= _GRAIN:
        torch.exp(flat, out=flat)
        return
    for s in range(0, flat.numel(), _GRAIN):
        part = flat[s:s + _GRAIN]
        torch.exp(part, out=part)


def _sum_log(t, m):
    """``log(t).sum(-1)`` for t (C, n) with every value in [1, k] (a sum of exponentials whose largest is 1), as the
    logarithms of products of ``m`` values (``m <= 690 / log k``: no overflow; n a multiple of m, padded with ones):
    n logarithms cost more than an E-step's other passes. Each product rounds by at most about 1e-13 relative, far
    below the 1e-5 stopping tolerance."""
    return np.log(t.reshape(t.shape[0], -1, m).prod(-1)).sum(-1)


def _bmm(a, b, out):
    """``out = a @ b`` for stacks of small matrices, through torch: twice as fast as numpy's stacked products and,
    like them, each matrix of the stack gets the same numbers whatever else is in the stack or how many threads run."""
    torch = _torch()
    torch.bmm(torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(b), out=torch.from_numpy(out))
    return out


_GRAIN = 32768
_SCRATCH = threading.local()
_SCRATCH_VALUES = 1 << 22  # the largest scratch array kept between fits (32 MB); larger ones are made each time


def _scratch(name, shape):
    """An uninitialised float64 array of ``shape`` for one fit's working data, kept per thread from one fit to the
    next: a fresh array of megabytes costs a page fault per 4 kB on first touch, about 5% of a whole fit. Each name
    is one role, never returned to the caller; a thread runs one fit at a time."""
    size = math.prod(shape)
    if size > _SCRATCH_VALUES:
        return np.empty(shape)
    pool = _SCRATCH.__dict__
    buf = pool.get(name)
    if buf is None or buf.size < size:
        buf = pool[name] = np.empty(size)
    return buf[:size].reshape(shape)


def _compact(a, keep):
    """Move the rows of ``a`` where ``keep`` (a boolean per leading row) is True to its front, in their order, in
    place (one row at a time: no copy of the whole array); returns how many rows were kept."""
    src = np.flatnonzero(keep)
    for j, s in enumerate(src):
        if s != j:
            a[j] = a[s]
    return src.size


@functools.lru_cache(maxsize=1)
def _torch():
    import torch  # on first use: importing it takes a second, and most of the course's chapters never fit a mixture

    return torch
