"""Fitting a mixture the paper's way: EM with a k-means start (:mod:`collapse_lab.em`, scikit-learn's algorithm)."""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np

from .. import em, loop, validate
from ..runtime import as_rng
from ..validate import integer as _int
from .mixture import _as_mixture, Mixture, sample


# ---------------------------------------------------------------------------------------------------------------
# fitting: the paper's EM


_single = [0]  # nesting depth of one_thread(): only the outermost one pays threadpoolctl's few milliseconds


@contextmanager
def one_thread():
    """Run BLAS/OpenMP and torch single-threaded: small EM fits are faster and steadier that way on a shared
    machine, and chains spread over the cores by :func:`collapse_lab.runtime.in_threads` do not each start a pool."""
    if _single[0]:
        _single[0] += 1
        try:
            yield
        finally:
            _single[0] -= 1
        return
    import scipy.linalg  # noqa: F401  load the BLAS/OpenMP libraries first: threadpoolctl only limits loaded ones
    import sklearn.mixture  # noqa: F401
    import torch
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    with threadpool_limits(1):
        torch.set_num_threads(1)
        _single[0] += 1
        try:
            yield
        finally:
            _single[0] -= 1
            torch.set_num_threads(old)


INITS = ("kmeans", "k-means++", "random", "random_from_data", "warm")


def fit(data, k: int = 3, rng=None, init: str = "kmeans", n_init: int = 1, start: Mixture | None = None) -> Mixture:
    """Fit a ``k``-component full-covariance mixture to ``data`` (n, d) by EM, the paper's way.

    scikit-learn ``GaussianMixture(k, covariance_type="full", tol=1e-5, max_iter=2000)``; ``init`` is sklearn's
    ``init_params`` (default ``"kmeans"``, as in the paper) with ``n_init`` restarts, the best kept; or ``"warm"``:
    EM starts from the mixture ``start`` (which must have ``k`` components). The random state comes from ``rng``.
    With ``init="kmeans"`` or ``"warm"`` and one start, the fit is computed by :func:`collapse_lab.em.fit` (the
    same algorithm and random draws as sklearn, so the same mixture to rounding, several times faster).
    """
    _int("k", k, 1)
    _int("n_init", n_init, 1)
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}")
    if start is not None and init != "warm":
        raise ValueError(f"start goes with init='warm' only (EM starts from it); got start with init={init!r}")
    x = validate.array("data", data)
    if x.ndim != 2 or len(x) < k:
        raise ValueError(f"data must have shape (n, d) with n >= k={k}; got {x.shape}")
    rng = as_rng(rng)
    kw = dict(covariance_type="full", tol=1e-5, max_iter=2000, random_state=int(rng.integers(2**31 - 1)))
    if init == "warm":
        start = _as_mixture(start, "start") if start is not None else None
        if start is None or start.k != k:
            raise ValueError("init='warm' needs start, a Mixture with k components")
        kw.update(weights_init=start.weights, means_init=start.means,
                  precisions_init=np.linalg.inv(start.covs + 1e-6 * np.eye(x.shape[1])))
    else:
        kw.update(init_params=init, n_init=n_init)
    if init in ("kmeans", "warm") and n_init == 1:  # the same fit from the batched EM, without sklearn's overhead
        start = (start.weights, start.means, start.covs + 1e-6 * np.eye(x.shape[1])) if init == "warm" else None
        with one_thread():
            f = em.fit(x, k, [kw["random_state"]], init=init, start=start)
        return Mixture(*f.chain(0))
    from sklearn.mixture import GaussianMixture

    with one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on collapsed data is expected, and recorded as is
        g = GaussianMixture(k, **kw).fit(x)
    return Mixture(g.weights_.copy(), g.means_.copy(), g.covariances_.copy())


def family(k: int = 3, init: str = "kmeans", n_init: int = 1) -> loop.Family:
    """The GMM as a :class:`loop.Family`: ``fit(data, rng) -> Mixture`` (see :func:`fit`), ``sample(model, n, rng)``.

    With ``init="warm"`` each fit starts EM from the previous fit of the same family object (the first one from
    k-means), so use a fresh ``family(...)`` per chain.
    """
    _int("k", k, 1)
    _int("n_init", n_init, 1)
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r:.60}")
    last = []

    def fit_(data, rng):
        if init == "warm":
            m = fit(data, k, rng, init="warm", start=last[-1]) if last else fit(data, k, rng, n_init=n_init)
            last[:] = [m]
            return m
        return fit(data, k, rng, init=init, n_init=n_init)

    return loop.Family(fit=fit_, sample=sample, name=f"gmm k={k} {init}")
