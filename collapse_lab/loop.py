"""The generational loop: fit -> sample -> next training set, with per-generation metrics.

Every chapter runs through :func:`run`. A model family is two plain functions (no subclassing):

- ``fit(data, rng) -> model``: train a model on ``data`` (a numpy array, a torch tensor or a list; first axis =
  examples);
- ``sample(model, n, rng) -> data``: ``n`` new examples, of the same kind as ``data``.

Generation 0 is fitted on the real data; generation ``g >= 1`` is fitted on the training set that the data policy
builds from the real data and the samples of generation ``g-1``. Policies (see :func:`policy`):

- ``replace``: only the previous model's samples (the paper's setting without real data);
- ``accumulate``: the real data and every synthetic set so far (Gerstgrasser et al. 2024);
- ``mix``: a fraction ``f`` of the training set is real data, re-drawn every generation, the rest synthetic
  (the paper's language-model setting keeps 10% real data);
- ``anchor``: ``k`` real points, re-drawn every generation, added to the synthetic set (Jangjoo et al. 2026).

A policy is an object with two methods: ``n_synthetic(n_real)`` (how many samples to ask the previous model for)
and ``build(real, synthetic_sets, rng)`` (the next training set). Any object with those two methods works; set
``keeps_history = True`` on it to receive every synthetic set so far instead of only the last one.

The history is a :class:`~collapse_lab.history.History` (``loop.History``): a plain list of rows (dicts) that also
gives columns as numpy arrays, so ``plt.plot(h["generation"], h["var"])`` works directly.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

from . import validate
from .history import History
from .runtime import as_rng, progress


class Family(NamedTuple):
    """A model family for :func:`run`: ``fit(data, rng) -> model`` and ``sample(model, n, rng) -> data``."""

    fit: Callable
    sample: Callable
    name: str = "family"


# ---------------------------------------------------------------------------------------------------------------
# data of any kind: numpy arrays, torch tensors, lists


def size(data, name: str = "data") -> int:
    """Number of examples in ``data`` (length of the first axis); ``name`` is the argument named in errors."""
    if not isinstance(name, str):
        raise validate.ArgumentError(f"name must be the argument's name (a str) used in messages; got {name!r:.60}")
    if isinstance(data, (str, bytes, dict, set)) or getattr(data, "ndim", 1) == 0:
        raise validate.ArgumentError(f"{name} must be a numpy array, torch tensor or list of examples; got "
                                     f"{type(data).__name__}")
    try:
        return len(data)
    except TypeError:
        raise validate.ArgumentError(f"{name} must be a numpy array, torch tensor or list of examples; got "
                                     f"{type(data).__name__}") from None


def take(data, idx):
    """Examples ``idx`` (a 1-D array of ints in [-n, n), n = size(data)) of ``data``."""
    n = size(data)
    if isinstance(idx, bool) or idx is None or isinstance(idx, (str, bytes, float)):
        raise validate.ArgumentError(f"idx must be a 1-D array of example indices; got {idx!r:.60}")
    try:
        idx = np.asarray(idx)
    except (TypeError, ValueError):
        raise validate.ArgumentError(f"idx must be a 1-D array of example indices; got {type(idx).__name__}") from None
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise validate.ArgumentError(f"idx must be a 1-D array of ints; got shape {idx.shape}, dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise validate.ArgumentError(f"idx must hold indices in [-{n}, {n}) (data has {n} examples); got "
                                     f"{int(idx.min())}..{int(idx.max())}")
    if isinstance(data, np.ndarray):
        return data[idx]
    if isinstance(data, (list, tuple)):
        return [data[i] for i in idx]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and isinstance(data, torch.Tensor):
        return data[torch.as_tensor(idx, device=data.device)]
    raise validate.ArgumentError(f"data must be a numpy array, torch tensor or list; got {type(data).__name__}")


def concat(parts: Sequence):
    """Join several data sets of the same kind along the first axis."""
    if not isinstance(parts, (list, tuple)) or not parts:
        raise validate.ArgumentError(f"parts must be a non-empty list of data sets; got {parts!r:.60}")
    parts = [p for i, p in enumerate(parts) if size(p, f"parts[{i}]") > 0] or list(parts[:1])
    first = parts[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(parts, axis=0)
    if isinstance(first, (list, tuple)):
        return [x for p in parts for x in p]
    import torch

    if isinstance(first, torch.Tensor):
        return torch.cat(list(parts), dim=0)
    raise validate.ArgumentError(f"parts must be numpy arrays, torch tensors or lists; got {type(first).__name__}")


# ---------------------------------------------------------------------------------------------------------------
# data policies


class Policy:
    """Base of the built-in data policies. A custom policy needs only ``n_synthetic`` and ``build``."""

    name = "policy"
    keeps_history = False

    def n_synthetic(self, n_real: int) -> int:
        """How many samples the previous generation writes, given ``n_real`` real examples."""
        return validate.integer("n_real", n_real, 0)

    def build(self, real, synthetic_sets: list, rng: np.random.Generator):
        """The next training set from the real data and the synthetic sets so far (oldest first)."""
        self.check(real, synthetic_sets, rng)
        raise NotImplementedError(f"{type(self).__name__} must define build(real, synthetic_sets, rng)")

    @staticmethod
    def check(real, synthetic_sets, rng) -> None:
        """``build``'s arguments: ``real`` data, a non-empty list of synthetic data sets, a numpy Generator."""
        size(real, "real")
        if not isinstance(synthetic_sets, (list, tuple)) or not synthetic_sets:
            raise validate.ArgumentError(f"synthetic_sets must be a non-empty list of data sets (oldest first); "
                                         f"got {synthetic_sets!r:.60}")
        shape = getattr(real, "shape", None)
        for i, d in enumerate(synthetic_sets):
            size(d, f"synthetic_sets[{i}]")
            other = getattr(d, "shape", None)
            if shape is not None and other is not None and shape[0] and other[0] and \
                    tuple(shape[1:]) != tuple(other[1:]):
                raise validate.ArgumentError(f"real and synthetic_sets[{i}] must hold examples of one shape; got "
                                             f"{tuple(shape[1:])} and {tuple(other[1:])}")
        if not isinstance(rng, np.random.Generator):
            raise validate.ArgumentError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")

    def __repr__(self):
        return self.name


class Replace(Policy):
    """Train on the previous generation's samples only."""

    name = "replace"

    def build(self, real, synthetic_sets, rng):
        self.check(real, synthetic_sets, rng)
        return synthetic_sets[-1]


class Accumulate(Policy):
    """Train on the real data plus every synthetic set written so far (the training set grows)."""

    name = "accumulate"
    keeps_history = True

    def build(self, real, synthetic_sets, rng):
        self.check(real, synthetic_sets, rng)
        return concat([real, *synthetic_sets])


@dataclass(repr=False)
class Mix(Policy):
    """A fraction ``fraction`` of the training set is real, re-drawn each generation; the rest is synthetic."""

    fraction: float = 0.1

    def __post_init__(self):
        self.fraction = validate.number("fraction", self.fraction, 0, 1)
        self.name = f"mix {self.fraction:.0%}"

    def n_real(self, n_real: int) -> int:
        """Real examples kept of ``n_real``: the fraction, rounded."""
        return int(round(self.fraction * validate.integer("n_real", n_real, 0)))

    def n_synthetic(self, n_real):
        return n_real - self.n_real(n_real)

    def build(self, real, synthetic_sets, rng):
        self.check(real, synthetic_sets, rng)
        k = self.n_real(size(real))
        keep = take(real, rng.choice(size(real), size=k, replace=False))
        return concat([keep, synthetic_sets[-1]])


@dataclass(repr=False)
class Anchor(Policy):
    """``k`` real points, re-drawn each generation, added to a full-size synthetic set."""

    k: int = 1

    def __post_init__(self):
        self.k = validate.integer("k", self.k, 0)  # real points added per generation
        self.name = f"anchor {self.k}"

    def n_real(self, n_real: int) -> int:
        """Real examples added of ``n_real``: ``k``, or all of them when there are fewer."""
        return min(self.k, validate.integer("n_real", n_real, 0))

    def build(self, real, synthetic_sets, rng):
        self.check(real, synthetic_sets, rng)
        keep = take(real, rng.choice(size(real), size=self.n_real(size(real)), replace=False))
        return concat([keep, synthetic_sets[-1]])


POLICIES = ("replace", "accumulate", "mix", "anchor")


class Builder:
    """One chain's next training sets under ``policy``, for chains of numpy data advanced in lockstep.

    ``builder(synthetic, rng)`` returns what ``policy.build(real, synthetic_sets, rng)`` returns, with the same
    random draws: it calls that build (the policy does its own draws), except under ``accumulate``, whose training
    set it grows by the new synthetic set instead of joining every set again, which keeps hundreds of long chains
    cheap.
    """

    def __init__(self, policy, real: np.ndarray):
        if not (callable(getattr(policy, "build", None)) and callable(getattr(policy, "n_synthetic", None))):
            raise validate.ArgumentError(f"policy must be a data policy with build() and n_synthetic(), e.g. "
                                         f"loop.policy('mix'); got {type(policy).__name__}")
        if not isinstance(real, np.ndarray) or real.ndim == 0 or len(real) == 0:
            raise validate.ArgumentError(f"real must be a numpy array of at least one example (first axis); got "
                                         f"{type(real).__name__}")
        self.policy, self.real, self.sets, self.train = policy, real, [], real

    def __call__(self, synthetic: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if type(self.policy) is Accumulate:  # Accumulate.build's training set, grown instead of joined again
            self.train = np.concatenate([self.train, synthetic])
            return self.train
        self.sets = [*self.sets, synthetic] if getattr(self.policy, "keeps_history", False) else [synthetic]
        self.train = np.asarray(self.policy.build(self.real, self.sets, rng))
        return self.train


def policy(name: str | Policy = "replace", *, fraction: float | None = None, k: int | None = None) -> Policy:
    """A data policy by name: ``'replace'``, ``'accumulate'``, ``'mix'`` (real share ``fraction``, default 0.1,
    the paper's setting), ``'anchor'`` (``k`` real points, default 1).

    An object that already has ``n_synthetic`` and ``build`` is returned unchanged, so custom policies pass through.
    Giving ``fraction`` or ``k`` to a policy that does not use it is an error, not silently ignored.
    """
    if hasattr(name, "n_synthetic") and hasattr(name, "build"):
        if fraction is not None or k is not None:
            raise validate.ArgumentError("fraction and k only go with a policy name ('mix', 'anchor'), not a "
                                         "policy object")
        return name
    if not isinstance(name, str) or name not in POLICIES:
        raise validate.ArgumentError(f"policy must be one of {POLICIES} (the name of a data policy) or an object "
                                     f"with n_synthetic() and build(); got {name!r:.60}")
    if fraction is not None and name != "mix":
        raise validate.ArgumentError(f"fraction goes with policy 'mix' only; got policy {name!r} with "
                                     f"fraction={fraction!r:.30}")
    if k is not None and name != "anchor":
        raise validate.ArgumentError(f"k goes with policy 'anchor' only; got policy {name!r} with k={k!r:.30}")
    if name == "mix":
        return Mix(0.1 if fraction is None else fraction)
    if name == "anchor":
        return Anchor(1 if k is None else k)
    return Replace() if name == "replace" else Accumulate()


# ---------------------------------------------------------------------------------------------------------------
# the loop


def run(family, real, generations: int, *, policy: str | Policy = "replace",
        metrics: Mapping[str, Callable] | None = None, n: int | None = None,
        seed: int | np.random.Generator | None = 0, keep: Sequence[int] = (), callback: Callable | None = None,
        start: tuple | None = None, gen0: dict | None = None, desc: str | None = None) -> History:
    """Run ``generations`` rounds of fit -> sample -> next training set.

    Parameters
    ----------
    family : a :class:`Family` (or anything with ``fit(data, rng)`` and ``sample(model, n, rng)`` attributes).
    real : the real data, shape (N, ...) array, tensor or list of N examples.
    generations : int >= 0, number of generations after generation 0; models 0..generations are fitted.
    policy : ``'replace'`` (default), ``'accumulate'``, ``'mix'``, ``'anchor'`` or a :class:`Policy`/``policy(...)``.
    metrics : mapping name -> ``f(model, train) -> float | dict``, evaluated on every generation's model and its
        training set; a dict result adds one column per key, named ``name_key``.
    n : real examples per generation; default ``len(real)``. When smaller, generation 0 and every policy use a
        fixed subset of ``n`` real examples (the rest stay unseen, e.g. for held-out metrics).
    seed : int seed (or a Generator) for every random choice of the run.
    keep : generations whose fitted model is kept in ``history.models``.
    callback : ``callback(generation, model, history)`` after each generation (for checkpoints and live plots).
    start : ``(generation, model, synthetic_sets)`` to resume after a finished generation instead of starting at 0.
    gen0 : a dict shared by runs that differ only in ``policy``, ``generations``, ``metrics``, ``keep`` or
        ``callback`` (e.g. one per row of a policy table): empty, the run stores its generation-0 model and the
        random state after fitting it; filled, the run takes them instead of fitting generation 0 again, and every
        number is the same as without it. Generation 0's metrics and callback still run (they may keep state, such
        as a reference model). The run checks the family name, the real data, ``n`` and the seed's state against
        the dict, so a dict from another run is refused; the caller keys the dicts by what else shapes the fit
        (sizes, device, code). The family must draw only from the ``rng`` it is given, and the runs share the model.
    desc : progress bar label.

    Returns
    -------
    :class:`History` with one row per generation: ``generation``, ``n_train``, ``seconds`` and the metrics.
    """
    generations = validate.count("generations", generations, 0)
    pol, metrics, keep = _checked(family, policy, metrics, keep, callback, start, gen0, desc)
    n_all, n = _real_data(real, n)
    rng = as_rng(seed)
    # what generation 0 depends on that the run can see; checked before a stored generation 0 is reused
    origin = None if gen0 is None else (getattr(family, "name", "family"), n, _fingerprint(real),
                                        repr(rng.bit_generator.state))
    if gen0 and gen0["origin"] != origin:
        raise validate.ArgumentError("gen0 holds generation 0 of another run (another family, real data, n or "
                                     "seed): pass an empty dict, or one filled by a run that starts alike")
    if n < n_all:
        real = take(real, np.sort(rng.choice(n_all, size=n, replace=False)))
    history = History(meta={"policy": repr(pol), "n": n, "generations": generations,
                            "family": getattr(family, "name", "family")})
    record = _Recorder(history, metrics, keep, callback)
    if start is None:
        t0 = time.perf_counter()
        model = _generation_0(family, real, rng, gen0, origin)
        record(0, model, real, t0)
        g0, synthetic_sets = 0, []
    else:
        g0, model, synthetic_sets = start[0], start[1], list(start[2])
    desc = desc or f"{getattr(family, 'name', 'family')} · {pol!r}"
    for g in progress(range(g0 + 1, generations + 1), desc=desc):
        t0 = time.perf_counter()
        model, train, synthetic_sets = _step(g, family, pol, model, real, synthetic_sets, n, rng)
        record(g, model, train, t0)
    return history


def _checked(family, spec, metrics, keep, callback, start, gen0, desc) -> tuple:
    """:func:`run`'s arguments other than the data, checked: ``(policy, metrics as a dict, keep as a set)``."""
    if not (callable(getattr(family, "fit", None)) and callable(getattr(family, "sample", None))):
        raise validate.ArgumentError("family must have fit(data, rng) and sample(model, n, rng) functions, e.g. "
                                     "loop.Family(fit=my_fit, sample=my_sample)")
    pol = policy(spec)
    if metrics is not None and not isinstance(metrics, Mapping):
        raise validate.ArgumentError(f"metrics must be a dict name -> f(model, train); got {type(metrics).__name__}")
    metrics = dict(metrics or {})
    for k, f in metrics.items():
        if not callable(f):
            raise validate.ArgumentError(f"metrics[{k!r}] must be callable f(model, train); got {type(f).__name__}")
    if isinstance(keep, (str, bytes)) or not hasattr(keep, "__iter__"):
        raise validate.ArgumentError(f"keep must be a list of generation numbers; got {keep!r:.60}")
    keep = set(validate.integer("keep[...]", g, 0) for g in keep)
    if callback is not None and not callable(callback):
        raise validate.ArgumentError(f"callback must be a function callback(generation, model, history); got "
                                     f"{callback!r:.60}")
    if start is not None and (not isinstance(start, (tuple, list)) or len(start) != 3
                              or not isinstance(start[2], list)):
        raise validate.ArgumentError("start must be a tuple (generation, model, synthetic_sets: list) from an "
                                     f"earlier run; got {start!r:.60}")
    if gen0 is not None and not isinstance(gen0, dict):
        raise validate.ArgumentError(f"gen0 must be a dict (empty, or filled by a run that starts alike) or None; "
                                     f"got {type(gen0).__name__}")
    if gen0 is not None and start is not None:
        raise validate.ArgumentError("give start (resume after a finished generation) or gen0 (reuse generation "
                                     "0), not both")
    if gen0 and set(gen0) != {"origin", "model", "rng"}:
        raise validate.ArgumentError(f"gen0 must be empty or filled by loop.run (keys origin, model, rng); got keys "
                                     f"{sorted(map(str, gen0))!r:.80}")
    if desc is not None and not isinstance(desc, str):
        raise validate.ArgumentError(f"desc must be a str (the progress bar's label) or None; got {desc!r:.60}")
    return pol, metrics, keep


def _real_data(real, n) -> tuple[int, int]:
    """``(len(real), n)`` once :func:`run`'s ``real`` (finite examples, at least one) and ``n`` (an int in
    [1, len(real)], default all) are checked."""
    if not isinstance(real, (np.ndarray, list, tuple)) and type(real).__name__ != "Tensor":
        raise validate.ArgumentError(f"real must be the real data: a numpy array, torch tensor or list of examples; "
                                     f"got {type(real).__name__}")
    n_all = size(real)
    if n_all == 0:
        raise validate.ArgumentError("real must hold at least one example")
    _check_finite(real, "real", "the real data must hold finite numbers (drop or impute the NaN/inf rows first)",
                  validate.ArgumentError)
    return n_all, n_all if n is None else validate.integer("n", n, 1, n_all)  # real examples per generation


def _generation_0(family, real, rng, gen0, origin):
    """Generation 0's model: fitted on the real data, or taken from ``gen0`` (a run that started alike fitted it;
    the rng continues where that run left it). An empty ``gen0`` is filled for the next run."""
    if gen0:
        rng.bit_generator.state = gen0["rng"]
        return gen0["model"]
    model = family.fit(real, rng)
    if gen0 is not None:
        gen0.update(origin=origin, model=model, rng=rng.bit_generator.state)
    return model


def _step(g, family, pol, model, real, synthetic_sets, n, rng) -> tuple:
    """Generation ``g``: the previous model writes samples, the policy builds the training set, a model is fitted.
    Returns ``(model, training set, synthetic sets kept)``."""
    synthetic = family.sample(model, pol.n_synthetic(n), rng)
    _check_finite(synthetic, "samples", f"generation {g - 1}'s model wrote non-finite samples, so the chain stops at "
                  f"generation {g}: the model diverged (a variance of 0 or inf, a NaN weight)")
    # only accumulate needs the older synthetic sets; dropping them keeps memory flat for the others
    synthetic_sets = [*synthetic_sets, synthetic] if getattr(pol, "keeps_history", False) else [synthetic]
    train = pol.build(real, synthetic_sets, rng)
    return family.fit(train, rng), train, synthetic_sets


class _Recorder:
    """One history row per generation: its size, metrics and seconds; keeps the models of ``keep`` and calls the
    callback."""

    def __init__(self, history: History, metrics: dict, keep: set, callback):
        self.history, self.metrics, self.keep, self.callback = history, metrics, keep, callback

    def __call__(self, g: int, model, train, t0: float) -> None:
        row = {"generation": g, "n_train": size(train)}
        for name, f in self.metrics.items():
            v = f(model, train)
            if isinstance(v, Mapping):
                row.update({f"{name}_{k}": _plain(x) for k, x in v.items()})
            else:
                row[name] = _plain(v)
        row["seconds"] = time.perf_counter() - t0
        self.history.append(row)
        if g in self.keep:
            self.history.models[g] = model
        if self.callback is not None:
            self.callback(g, model, self.history)


def _fingerprint(data) -> str:
    """A digest of ``data``'s values, shape and type (arrays and tensors by their bytes, lists pickled)."""
    import hashlib
    import pickle

    if type(data).__name__ == "Tensor":
        data = data.detach().cpu().numpy()
    if isinstance(data, np.ndarray):
        head, body = f"{data.dtype}{data.shape}", np.ascontiguousarray(data).tobytes()
    else:
        head, body = type(data).__name__, pickle.dumps(data)
    return head + hashlib.blake2b(body, digest_size=16).hexdigest()


def _check_finite(data, name, why, error=ValueError):
    """Raise ``error`` when numeric ``data`` (array, tensor or list of floats) holds NaN or inf; lists of tokens
    pass."""
    if isinstance(data, (list, tuple)) and data and all(isinstance(x, float) for x in data):
        data = np.asarray(data)
    if isinstance(data, np.ndarray):
        if np.issubdtype(data.dtype, np.number) and not np.all(np.isfinite(data)):
            bad = int(np.sum(~np.isfinite(data)))
            raise error(f"{name} holds {bad} NaN/inf value(s): {why}")
        return
    try:
        import torch
    except ImportError:
        return
    if isinstance(data, torch.Tensor) and data.is_floating_point() and not bool(torch.isfinite(data).all()):
        bad = int((~torch.isfinite(data)).sum())
        raise error(f"{name} holds {bad} NaN/inf value(s): {why}")


def _plain(v):
    """Metric values as plain python numbers, so histories serialise to JSON/CSV."""
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    try:
        import torch

        if isinstance(v, torch.Tensor) and v.numel() == 1:
            return float(v)
    except ImportError:
        pass
    return v
