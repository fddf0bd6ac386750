"""The chapter's experiments: one chain, many chains in lockstep on the batched EM, the N-sweep, the error sources
and the paper's reference setting."""
from __future__ import annotations

import contextlib
import threading
from typing import NamedTuple, Sequence

import numpy as np

from .. import em, loop, validate
from ..runtime import in_processes, in_threads, in_worker, progress, silence_progress, workers
from ..validate import integer as _int, seed as _seed
from .fitting import family, fit, INITS, one_thread
from .measures import lost_generation, metrics, mode_mass, mode_masses, tail_threshold, total_variance
from .mixture import _as_mixture, l2, l2s, LOST_BELOW, Mixture, MODES, PAPER, sample, TEACHING
from .sizes import sizes


# ---------------------------------------------------------------------------------------------------------------
# experiments


def data(seed: int = 0, n: int | None = None, n_test: int | None = None, ref=TEACHING, profile=None):
    """Real training points (n, d) and held-out real points (n_test, d) from ``ref``; independent streams of
    ``seed``."""
    _seed("seed", seed)
    s = sizes(profile)
    n = s.N if n is None else n
    n_test = s.n_test if n_test is None else n_test
    _int("n", n, 1)
    _int("n_test", n_test, 1)
    ref = _as_mixture(ref, "ref")
    return (sample(ref, n, np.random.default_rng([seed, 0])), sample(ref, n_test, np.random.default_rng([seed, 1])))


def experiment(policy="replace", *, generations=None, seed=0, profile=None, n=None, k=3, init="kmeans",
               n_init=1, keep=None, ref=TEACHING, full=True) -> loop.History:
    """The chapter's chain: EM on N points of the teaching mixture, sample N, refit, ``generations`` times.

    Parameters
    ----------
    policy : a :func:`loop.policy` name or object (``replace``: the model's own samples only).
    generations : int >= 0; default ``sizes().generations``.
    seed : int >= 0; the same seed gives the same numbers (real data, held-out data and the chain).
    n : real points per generation; default ``sizes().N``.
    k, init, n_init : the EM fitted each generation (see :func:`fit`; ``k`` != 3 is the expressivity experiment,
        ``init="warm"`` removes the random restarts of EM).
    keep : generations whose fitted :class:`Mixture` is kept in ``history.models``; default ``sizes().snapshots``.
    ref : the original mixture (default :data:`TEACHING`).
    full : False records only ``distance``, ``variance`` and ``mass_j`` (faster: what the many-seeds study needs).

    Returns
    -------
    :class:`loop.History` with ``distance`` (L2 to ``ref``), and with ``full``: ``loglik``, ``tail``,
    ``weight_j``, ``det_j``, ``mass_j``; ``meta`` holds ``original_mass``, ``lost`` (mode -> generation or None),
    ``tau``.
    """
    s = sizes(profile)
    generations = s.generations if generations is None else generations
    _int("generations", generations, 0)
    ref = _as_mixture(ref, "ref")
    _options(init, keep, full)
    real, test = data(seed, n=s.N if n is None else n, n_test=s.n_test, ref=ref)
    keep = tuple(g for g in (s.snapshots if keep is None else keep) if g <= generations)
    ms = _metrics(ref, test, full)
    with one_thread():
        h = loop.run(family(k, init, n_init), real, generations, policy=policy, metrics=ms,
                     seed=np.random.default_rng([seed, 2]), keep=keep, desc=f"gmm k={k} seed {seed}")
    _annotate(h, ref, test)
    return h


def _annotate(h, ref, test):
    orig = mode_mass(ref, ref)
    h.meta.update(original_mass=[float(x) for x in orig], tau=tail_threshold(ref, test),
                  original_variance=total_variance(ref))
    if "mass_0" in h.columns:  # not when the masses were left out
        h.meta["lost"] = {j: lost_generation(h[f"mass_{j}"], float(orig[j])) for j in range(ref.k)}


class _Lost(Exception):
    pass


def first_loss(seed: int = 0, *, n=None, generations=None, k=3, init="kmeans", profile=None, ref=TEACHING) -> dict:
    """Run the chain of ``experiment(seed=seed, n=n, k=k, init=init)`` until the first mode is lost.

    Stops at the first generation where some mode's mass is below ``LOST_BELOW`` of the original (or after
    ``generations``, default ``sizes().seed_generations``; ``n`` defaults to ``sizes().seed_N``). Returns
    ``{"seed", "generation" (None if nothing was lost), "lost" (tuple of mode indices lost at that generation),
    "first" (the mode name, "tie" when several are lost together, "none")}``.
    """
    generations, n, ref = _first_args(profile, generations, n, ref, init)
    real, _ = data(seed, n=n, n_test=1, ref=ref)
    orig = mode_mass(ref, ref)
    hit = {}

    def stop(g, model, history):
        lost = np.flatnonzero(mode_mass(model, ref) < LOST_BELOW * orig)
        if lost.size:
            hit.update(generation=g, lost=tuple(int(j) for j in lost))
            raise _Lost

    with one_thread():
        try:
            loop.run(family(k, init), real, generations, seed=np.random.default_rng([seed, 2]), callback=stop,
                     desc=f"seed {seed}")
        except _Lost:
            pass
    names = MODES if ref is TEACHING else tuple(str(j) for j in range(ref.k))
    if not hit:
        return {"seed": seed, "generation": None, "lost": (), "first": "none"}
    first = names[hit["lost"][0]] if len(hit["lost"]) == 1 else "tie"
    return {"seed": seed, **hit, "first": first}


def _seeds(seeds) -> list:
    return validate.seeds("seeds", seeds)


def _options(init=None, keep=(), full=True) -> None:
    """The chain options shared by the experiments: ``init`` a name of :data:`INITS`, ``keep`` generations (ints
    >= 0), ``full`` a bool."""
    if init is not None and not (isinstance(init, str) and init in INITS):
        raise validate.ArgumentError(f"init must be one of {INITS}; got {init!r:.60}")
    if keep is not None and (isinstance(keep, (str, bytes)) or not hasattr(keep, "__iter__")
                             or not all(isinstance(g, (int, np.integer)) and not isinstance(g, bool) and g >= 0
                                        for g in keep)):
        raise validate.ArgumentError(f"keep must be a list of generations (ints >= 0); got {keep!r:.60}")
    if not isinstance(full, (bool, np.bool_)):
        raise validate.ArgumentError(f"full must be True or False; got {full!r:.60}")


def _first_args(profile, generations, n, ref, init):
    """The defaults and checks :func:`first_loss` and :func:`first_losses` share: (generations, n, ref)."""
    s = sizes(profile)
    generations = _int("generations", s.seed_generations if generations is None else generations, 0)
    ref = _as_mixture(ref, "ref")
    _options(init)
    return generations, s.seed_N if n is None else n, ref


def lockstep(reals, generations: int, *, seeds, k: int = 3, init: str = "kmeans", callback=None, measure=None,
             policy="replace", desc="chains"):
    """Many chains of the GMM advanced together: one batched EM (:func:`collapse_lab.em.fit`) per generation for all
    chains still running.

    Chain i starts from ``reals[i]`` (n, d) (the same n for all) and draws from ``np.random.default_rng([seeds[i],
    2])`` exactly what :func:`experiment` draws, so each chain is the chain ``experiment(policy, seed=seeds[i],
    ...)`` runs alone (the same numbers to rounding). ``init``: ``"kmeans"`` or ``"warm"`` (as :func:`family`);
    ``policy``: a :func:`loop.policy` that builds training sets of one size in every chain (the built-in ones do).
    ``callback(g, i, model, train)`` after each fit; a True return stops chain i. With ``measure`` (a function of
    a batch of fits, :class:`collapse_lab.em.Fit`, returning one value per chain), the callback is
    ``callback(g, i, model, train, value)``: one vectorised measurement for the batch instead of one per chain.
    The chains are split into :func:`~collapse_lab.runtime.workers` groups advanced on parallel threads (a chain's
    numbers do not depend on its group). Returns nothing.
    """
    reals, seeds = _lockstep_inputs(reals, seeds, generations, init, callback, measure)
    pol = loop.policy(policy)
    chains = _Chains(reals, seeds, pol)
    groups = [g for g in np.array_split(np.arange(len(reals)), min(workers(), len(reals))) if g.size]
    bar = progress(total=(generations + 1) * len(groups), desc=desc)
    try:
        in_threads(lambda group: _advance(chains, group, generations, k, init, callback, measure, bar.update),
                   groups)
    finally:
        bar.close()


class _Chains:
    """The state of chains advanced in lockstep: each chain's random stream ``rngs[i]`` (``default_rng([seed,
    2])``, as :func:`experiment`'s), its training-set builder and its real-data size ``n``."""

    def __init__(self, reals, seeds, pol):
        self.pol, self.n = pol, reals[0].shape[0]
        self.rngs = [np.random.default_rng([int(sd), 2]) for sd in seeds]
        self.builders = [loop.Builder(pol, r.copy()) for r in reals]


def _advance(chains: _Chains, group, generations: int, k: int, init: str, callback, measure, tick) -> None:
    """Advance the chains ``group`` (indices into ``chains``) together for ``generations``: one batched fit per
    generation of those still running (see :func:`lockstep`); ``tick()`` after each generation."""
    pol, builders, rngs = chains.pol, chains.builders, chains.rngs
    active = [int(i) for i in group]
    models: dict = {}
    for g in range(generations + 1):
        if not active:
            break
        if len({builders[i].train.shape for i in active}) != 1:
            raise ValueError(f"policy {pol!r} built training sets of different sizes in different chains at "
                             f"generation {g}; run experiment() once per seed instead")
        x = np.stack([builders[i].train for i in active])
        states = [int(rngs[i].integers(2**31 - 1)) for i in active]  # gmm.fit's draw
        f = _batched_fit(x, k, states, [models[i] for i in active] if init == "warm" and g > 0 else None)
        active = _report(g, active, f, x, models, callback, measure)
        if g < generations:
            for i in active:
                builders[i](sample(models[i], pol.n_synthetic(chains.n), rngs[i]), rngs[i])
        tick()


def _lockstep_inputs(reals, seeds, generations, init, callback, measure):
    """:func:`lockstep`'s arguments checked: ``(reals, seeds)`` as lists of (n, d) arrays of one shape and ints."""
    if not (isinstance(init, str) and init in ("kmeans", "warm")):
        raise ValueError(f"init must be 'kmeans' or 'warm' for chains in lockstep; got {init!r:.60}")
    _int("generations", generations, 0)
    for name, f in (("callback", callback), ("measure", measure)):
        if f is not None and not callable(f):
            raise validate.ArgumentError(f"{name} must be a function or None; got {type(f).__name__}")
    if not isinstance(reals, (list, tuple, np.ndarray)) or len(reals) == 0:
        raise validate.ArgumentError(f"reals must be a non-empty list of (n, d) data sets; got {reals!r:.60}")
    reals = [validate.array(f"reals[{i}]", r, ndim=2) for i, r in enumerate(reals)]
    if len({r.shape for r in reals}) != 1:
        raise validate.ArgumentError(f"reals must be data sets of one shape (n, d); got shapes "
                                     f"{sorted({r.shape for r in reals})}")
    seeds = _seeds(seeds)
    if len(seeds) != len(reals):
        raise validate.ArgumentError(f"seeds must hold one seed per data set of reals ({len(reals)}); got "
                                     f"{len(seeds)}")
    return reals, seeds


def _batched_fit(x, k: int, states, prev=None):
    """One batched EM fit (:func:`collapse_lab.em.fit`) of the training sets ``x`` (chains, n, d) with ``k``
    components and one random state per chain: k-means starts, or with ``prev`` (each chain's previous
    :class:`Mixture`) warm starts from those fits."""
    if prev is None:
        return em.fit(x, k, states)
    start = (np.stack([m.weights for m in prev]), np.stack([m.means for m in prev]),
             np.stack([m.covs for m in prev]) + 1e-6 * np.eye(x.shape[2]))
    return em.fit(x, k, states, init="warm", start=start)


def _report(g: int, active: list, f, x, models: dict, callback, measure) -> list:
    """The batch ``f`` of generation ``g``'s fits of the chains ``active`` (on training sets ``x``) stored in
    ``models`` as :class:`Mixture` and handed to ``callback`` (with ``measure(f)``'s value when given); returns the
    chains still running (those whose callback did not return True)."""
    values = None if measure is None else measure(f)
    keep = []
    for j, i in enumerate(active):
        models[i] = Mixture(*f.chain(j))
        if callback is None:
            stop = False
        elif measure is None:
            stop = callback(g, i, models[i], x[j])
        else:
            stop = callback(g, i, models[i], x[j], values[j])
        if not stop:
            keep.append(i)
    return keep


UNTIL = (None, "settled")


def experiments(seeds, *, policy="replace", generations=None, n=None, k=3, init="kmeans", keep=(), ref=TEACHING,
                full=False, profile=None, until=None) -> list[loop.History]:
    """:func:`experiment` for every seed of ``seeds`` (an int: seeds 0..seeds-1), the chains fitted together by the
    batched EM in blocks of :data:`BLOCK` seeds, the blocks side by side in processes; the same histories as one
    :func:`experiment` call per seed, to rounding, whatever the blocks and the cores.

    Defaults as :func:`experiment` except ``keep`` (no models kept) and ``full`` (False: ``distance``, ``variance``
    and ``mass_j`` only). ``policy``: see :func:`lockstep`. ``seconds``: the time of the generation's batch so far
    (its fit, then the metrics of the chains recorded before) divided by the chains recorded: about the cost per
    chain.

    ``until``: None runs every chain for ``generations``; ``"settled"`` stops a chain after the first generation
    by which its smallest mode (of ``ref``) is lost and its total variance has moved by ``stages.BULK_MOVE`` of the
    original's. By then everything the many-seeds count and the course map read from the chain is known: the first
    lost mode (at or before the smallest one's loss), the smallest mode's loss, and both first passages of
    :mod:`collapse_lab.stages` (the tail alarm, at half the smallest mode's mass, comes no later than its loss at
    ``LOST_BELOW``). Each chain draws only from its own random stream, so stopping one changes no other chain's
    numbers: every row recorded is the row the full run records. A history cut short this way is shorter (its last
    row is the generation it stopped at), ``meta["lost"][j]`` is None for a mode not lost by then, and
    ``meta["planned"]`` holds ``generations`` (the course map's table reports that as the run's length).
    """
    if not (until is None or (isinstance(until, str) and until in UNTIL)):
        raise validate.ArgumentError(f"until must be one of {UNTIL}; got {until!r:.60}")
    seeds = _seeds(seeds)
    s = sizes(profile)
    generations = s.generations if generations is None else generations
    _int("generations", generations, 0)
    n = s.N if n is None else n
    ref = _as_mixture(ref, "ref")
    _options(init, keep, full)
    if keep is None:
        raise validate.ArgumentError("keep must be a list of generations whose models are kept (ints >= 0; () "
                                     "keeps none); got None")
    setup = _Setup(loop.policy(policy), generations, int(n), s.n_test, k, init, tuple(int(g) for g in keep), ref,
                   full, until, True)
    return [h for part in _in_blocks([(block, setup) for block in _blocks(seeds)]) for h in part]


class _Setup(NamedTuple):
    """What :func:`experiments` runs for every seed (checked): the chains' policy, length, size, model and
    columns; ``masses`` False leaves out the mode masses (and ``meta["lost"]``), for runs that never read them."""

    policy: object
    generations: int
    n: int
    n_test: int
    k: int
    init: str
    keep: tuple
    ref: Mixture
    full: bool
    until: str | None
    masses: bool


#: seeds per block of :func:`experiments`: the blocks run side by side in processes
#: (:func:`~collapse_lab.runtime.in_processes`), each block's chains fitted together by the batched EM, whose cost
#: per chain falls with the chains in the batch (about 1.7 ms per chain and generation at M = 1,000 for 50 chains,
#: 4 ms for one). The split depends on the seeds only (never on the cores), and a chain's numbers do not depend
#: on its block.
BLOCK = 50
#: points per generation (seeds x M) of one block of the N-sweep: the sweep's largest M split into small blocks, so
#: the blocks of all M share the cores evenly
SWEEP_POINTS = 20000


def _blocks(seeds: list, size: int | None = None) -> list[list]:
    """``seeds`` in blocks of at most ``size`` (default :data:`BLOCK`), as equal as they can be, in order."""
    parts = -(-len(seeds) // max(1, BLOCK if size is None else size))
    return [[int(sd) for sd in b] for b in np.array_split(np.asarray(seeds), parts)]


def _in_blocks(jobs: list) -> list[list]:
    """:func:`_block` for every job ``(seeds, setup)`` of ``jobs``, in processes, the costliest first (points x
    generations x chains); the results in the order of ``jobs``. One job runs here, its chains split over threads
    as :func:`lockstep` splits them (no process to start for a short run); so does every job when the policy cannot
    be sent to another process (a class defined in a notebook cell or a function)."""
    import pickle

    try:
        pickle.dumps([st.policy for _, st in jobs])
    except Exception:  # noqa: BLE001 - any failure to pickle: run here
        return [_block(sd, st, threads=True) for sd, st in jobs]
    if len(jobs) == 1:
        return [_block(*jobs[0], threads=True)]
    cost = [len(sd) * st.n * (st.generations + 1) for sd, st in jobs]
    order = sorted(range(len(jobs)), key=lambda i: -cost[i])
    done = in_processes(_block, *zip(*[jobs[i] for i in order]))
    return [part for _, part in sorted(zip(order, done), key=lambda t: t[0])]


def _block(seeds: list, setup: _Setup, threads: bool = False) -> list[loop.History]:
    """The histories of :func:`experiments` for ``seeds``, their chains advanced together on this thread (with
    ``threads``: in :func:`~collapse_lab.runtime.workers` groups on parallel threads, as :func:`lockstep`)."""
    import time

    st = setup
    pairs = [data(sd, n=st.n, n_test=st.n_test, ref=st.ref) for sd in seeds]
    meta = {"policy": repr(st.policy), "n": st.n, "generations": st.generations, "family": f"gmm k={st.k} {st.init}"}
    if st.until is not None:
        meta.update(until=st.until, planned=st.generations)
    hs = []
    for _, test in pairs:
        hs.append(loop.History(meta=dict(meta)))
        hs[-1].meta["_metrics"] = _metrics(st.ref, test, st.full, st.masses)
    keep = set(st.keep)
    clocks: dict = {}  # per thread (a group of chains): the start of the generation's batch, its number, chains
    settled = None if st.until is None else _settled(st.ref, len(seeds))

    def record(g, i, model, train, given):
        clock = clocks.setdefault(threading.get_ident(), [0.0, -1, 0])
        if g != clock[1]:
            clock[:] = [time.perf_counter(), g, 0]
        clock[2] += 1
        h = hs[i]
        row = _row(h.meta["_metrics"], g, model, train, given)
        row["seconds"] = (time.perf_counter() - clock[0]) / clock[2]
        h.append(row)
        if g in keep:
            h.models[g] = model
        return False if settled is None else settled(i, row)

    def measure(f):  # the batch's distances and mode masses, each chain's numbers those of l2 and mode_mass
        dist = l2s(f.weights, f.means, f.covs, st.ref)
        mass = mode_masses(f.weights, f.means, f.covs, st.ref) if st.masses else [None] * len(dist)
        return [{"distance": dd, "mass": mm} for dd, mm in zip(dist, mass)]

    quiet = silence_progress() if in_worker() else contextlib.nullcontext()
    with one_thread(), quiet:
        chains = _Chains([p[0] for p in pairs], seeds, st.policy)
        groups = [g for g in np.array_split(np.arange(len(seeds)), min(workers() if threads else 1, len(seeds)))
                  if g.size]
        bar = progress(total=(st.generations + 1) * len(groups), desc=f"{len(seeds)} chains, M = {st.n}")
        try:
            in_threads(lambda group: _advance(chains, group, st.generations, st.k, st.init, record, measure,
                                              bar.update), groups)
        finally:
            bar.close()
    for h, (_, test) in zip(hs, pairs):
        del h.meta["_metrics"]
        _annotate(h, st.ref, test)
    return hs


def _settled(ref, chains: int):
    """The rule of ``experiments(until="settled")``: ``rule(i, row) -> bool``, True from the generation by which
    chain i has lost the smallest mode of ``ref`` and moved its total variance by ``stages.BULK_MOVE`` (each is a
    first passage, so the rows are seen in order and the two events remembered)."""
    from .. import stages

    orig = mode_mass(ref, ref)
    minor = int(np.argmin(orig))
    below = LOST_BELOW * float(orig[minor])
    var0 = total_variance(ref)
    lost, moved = np.zeros(chains, bool), np.zeros(chains, bool)

    def rule(i, row):
        lost[i] |= row[f"mass_{minor}"] < below
        moved[i] |= stages.bulk_moved(row["variance"], var0)
        return bool(lost[i] and moved[i])

    return rule


def _metrics(ref, test, full: bool, masses: bool = True) -> dict:
    """The chain's ``loop.run`` metrics against ``ref`` and the held-out ``test`` points: all of
    :func:`~collapse_lab.gmm.measures.metrics`, or without ``full`` only distance, variance and (with ``masses``)
    mode masses."""
    ms = metrics(ref, test)
    if full:
        return ms
    return {name: ms[name] for name in ("distance", "variance", "mass") if masses or name != "mass"}


def _row(ms: dict, g: int, model, train, given: dict) -> dict:
    """One generation's history row: the metrics ``ms`` of the fit ``model`` on ``train`` (dict-valued ones
    spread over ``name_key`` columns), those in ``given`` (``distance``, and ``mass`` (k,) when measured) taken
    from the batched measurement."""
    row = {"generation": g, "n_train": len(train)}
    for name, f in ms.items():
        if name in given:
            v = dict(enumerate(given[name])) if name == "mass" else given[name]
        else:
            v = f(model, train)
        if isinstance(v, dict):
            row.update({f"{name}_{kk}": float(x) for kk, x in v.items()})
        else:
            row[name] = float(v)
    return row


def first_losses(seeds, *, n=None, generations=None, k=3, init="kmeans", profile=None, ref=TEACHING) -> list[dict]:
    """:func:`first_loss` for every seed of ``seeds`` (an int: seeds 0..seeds-1), all chains advanced together by
    the batched EM (the same rows as one :func:`first_loss` call per seed, to rounding)."""
    seeds = _seeds(seeds)
    generations, n, ref = _first_args(profile, generations, n, ref, init)
    orig = mode_mass(ref, ref)
    names = MODES if ref is TEACHING else tuple(str(j) for j in range(ref.k))
    rows = [{"seed": sd, "generation": None, "lost": (), "first": "none"} for sd in seeds]

    def stop(g, i, model, train, mass):
        lost = tuple(int(j) for j in np.flatnonzero(mass < LOST_BELOW * orig))
        if lost:
            rows[i].update(generation=g, lost=lost, first=names[lost[0]] if len(lost) == 1 else "tie")
        return bool(lost)

    with one_thread():
        lockstep([data(sd, n=n, n_test=1, ref=ref)[0] for sd in seeds], generations, seeds=seeds, k=k, init=init,
                 callback=stop, measure=lambda f: mode_masses(f.weights, f.means, f.covs, ref),
                 desc=f"{len(seeds)} seeds")
    return rows


def count_first(rows) -> dict:
    """How often each mode was lost first: ``{name: count}`` over ``MODES`` plus ``"tie"`` and ``"none"``."""
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
        raise validate.ArgumentError(f"rows must be the list of dicts first_losses() returns; got {rows!r:.60}")
    out = {name: 0 for name in (*MODES, "tie", "none")}
    for r in rows:
        if r.get("first") not in out:
            raise ValueError(f"rows must come from first_loss(); got first={r.get('first')!r}")
        out[r["first"]] += 1
    return out


def sweep(ns: Sequence[int] | None = None, seeds: int | None = None, generations: int | None = None,
          profile=None) -> dict:
    """The N-sweep: ``{N: [History, ...]}`` (``seeds`` chains per N, as :func:`experiments` with ``n=N``, columns
    ``distance`` and ``variance`` only: no mode masses, and no ``meta["lost"]``). All blocks of all N run side by
    side, the largest N first."""
    s = sizes(profile)
    if ns is not None and (isinstance(ns, (str, bytes)) or not hasattr(ns, "__iter__")):
        raise validate.ArgumentError(f"ns must be a list of sample sizes N; got {ns!r:.60}")
    ns = tuple(s.sweep_N if ns is None else ns)
    if not ns:
        raise validate.ArgumentError("ns must hold at least one sample size N")
    seeds = s.sweep_seeds if seeds is None else seeds
    generations = s.sweep_generations if generations is None else generations
    validate.count("seeds", seeds)
    _int("generations", generations, 0)
    for v in ns:
        _int("ns[i]", v, 10)
    seeds = _seeds(seeds)
    split = {N: _blocks(seeds, min(BLOCK, SWEEP_POINTS // N)) for N in ns}
    jobs = [(block, _Setup(loop.policy("replace"), generations, int(N), s.n_test, 3, "kmeans", (), TEACHING, False,
                           None, False)) for N in ns for block in split[N]]
    parts = iter(_in_blocks(jobs))
    return {N: [h for _ in split[N] for h in next(parts)] for N in ns}


def trend(ns, values) -> tuple[float, float]:
    """Least-squares line ``log10(value) = a + b log10(N)``: returns ``(a, b)`` (``b``: the power-law exponent)."""
    ns, values = validate.array("ns", ns, ndim=1), validate.array("values", values, ndim=1)
    if np.any(ns <= 0) or np.any(values <= 0):
        raise validate.ArgumentError("ns and values must be positive (their logarithms are fitted)")
    x, y = np.log10(ns), np.log10(values)
    if x.shape != y.shape or x.size < 2 or not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
        raise ValueError("ns and values must be positive, finite and of the same length >= 2")
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


def error_sources(seed: int = 0, profile=None, ref=TEACHING) -> dict:
    """The paper's three error sources, each isolated in one fit-only experiment (no generational loop).

    - ``expressivity``: ``{k: L2}`` for k = 1..4 components, best of 10 EM restarts on ``n_big`` points (so the
      other two errors are small): k < 3 cannot reach the truth.
    - ``approximation``: L2 of the k = 3 fit on the same ``n_big`` points from ``init_seeds`` single k-means starts
      (array): only the start changes, so the spread is EM's local optima.
    - ``statistical``: ``{N: mean L2}`` of the k = 3 fit started at the truth (no local-optimum error) on N fresh
      points, ``stat_reps`` repetitions: shrinks like N^-1/2 and never reaches 0.
    - ``best``: the best L2 seen on the ``n_big`` points.
    """
    _seed("seed", seed)
    s = sizes(profile)
    ref = _as_mixture(ref, "ref")
    big = sample(ref, s.n_big, np.random.default_rng([seed, 3]))
    rng = np.random.default_rng([seed, 4])
    with one_thread():
        expr = {kk: l2(fit(big, kk, rng, n_init=10), ref) for kk in progress(range(1, 5), desc="expressivity")}
        # each start has its own random stream: the starts run side by side, the same numbers on any cores
        approx = np.array(in_threads(lambda i: l2(fit(big, ref.k, np.random.default_rng([seed, 5, i])), ref),
                                     range(s.init_seeds)))
        stat = {}
        for N in progress(s.stat_N, desc="statistical"):
            d = [l2(fit(sample(ref, N, rng), ref.k, rng, init="warm", start=ref), ref) for _ in range(s.stat_reps)]
            stat[N] = float(np.mean(d))
    return {"expressivity": expr, "approximation": approx, "statistical": stat,
            "best": float(min(min(expr.values()), approx.min()))}


def paper(generations=None, seed: int = 0, profile=None) -> loop.History:
    """The paper's reference setting in one call: sklearn EM (full covariance, tol 1e-5, max_iter 2000), 2
    components, N = 1000 per generation, fit -> sample 1000 -> refit, on the 2-mode mixture :data:`PAPER`.

    Runs to the last snapshot of ``sizes().paper_snapshots`` (0, 50, 100, 150, 200, 350, 2000 in the paper profile;
    divided by 10 in standard and by 50 in quick) unless ``generations`` is given; the snapshot models are kept in
    ``history.models``. Columns as :func:`experiment` (``distance`` is the L2 distance to :data:`PAPER`).
    """
    s = sizes(profile)
    generations = s.paper_snapshots[-1] if generations is None else generations
    return experiment(generations=generations, seed=seed, profile=profile, n=s.paper_N, k=2,
                      keep=s.paper_snapshots, ref=PAPER)
