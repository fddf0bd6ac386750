"""Chapter 2's sizes per profile: the teaching chain, the many-seeds count, the N-sweep, the error sources."""
from __future__ import annotations



from ..profiles import pick


# ---------------------------------------------------------------------------------------------------------------
# sizes

_PAPER_SNAPSHOTS = (0, 50, 100, 150, 200, 350, 2000)


def _scaled(factor):
    return tuple(int(round(g * factor)) for g in _PAPER_SNAPSHOTS)


SIZES = {
    "quick": {
        "N": 200, "n_test": 2000, "generations": 60, "snapshots": (0, 5, 15, 30, 60),
        "seeds": 20, "seed_generations": 100, "seed_N": 100,
        "sweep_N": (100, 300, 1000), "sweep_seeds": 3, "sweep_generations": 50,
        "n_big": 5000, "init_seeds": 20, "stat_N": (100, 300, 1000, 3000), "stat_reps": 5,
        "paper_N": 1000, "paper_snapshots": _scaled(1 / 50),
        "explore_N": (200, 100, 1000), "explore_generations": (40, 20, 100),
        "drift_chains": 4000, "exact_chains": 200,
    },
    "standard": {
        "N": 500, "n_test": 5000, "generations": 300, "snapshots": (0, 25, 50, 100, 200, 300),
        "seeds": 60, "seed_generations": 400, "seed_N": 500,
        "sweep_N": (100, 300, 1000, 3000), "sweep_seeds": 4, "sweep_generations": 150,
        "n_big": 20000, "init_seeds": 50, "stat_N": (100, 300, 1000, 3000, 10000), "stat_reps": 10,
        "paper_N": 1000, "paper_snapshots": _scaled(1 / 10),
        "explore_N": (500, 250, 2000), "explore_generations": (100, 50, 300),
        "drift_chains": 4000, "exact_chains": 200,
    },
    # paper: the paper's N = 1,000 and 2,000 generations for the teaching chain and the first-lost count; the N-sweep
    # (up to N = 10,000) and the error sources inside the chain run 300 generations, which keeps the chapter under
    # 10 minutes on 2 cores, long enough for every N of the sweep to drift far from its generation-0 error
    "paper": {
        "N": 1000, "n_test": 10000, "generations": 2000, "snapshots": (0, 50, 100, 150, 200, 350, 2000),
        "seeds": 100, "seed_generations": 2000, "seed_N": 1000,
        "sweep_N": (100, 300, 1000, 3000, 10000), "sweep_seeds": 10, "sweep_generations": 300,
        "n_big": 100000, "init_seeds": 100, "stat_N": (100, 300, 1000, 3000, 10000, 30000), "stat_reps": 20,
        "paper_N": 1000, "paper_snapshots": _PAPER_SNAPSHOTS,
        "explore_N": (1000, 250, 3000), "explore_generations": (200, 50, 1000),
        "drift_chains": 10000, "exact_chains": 400,
    },
}


def sizes(profile: str | None = None):
    """The chapter's sizes for ``profile`` (default: the active one) as attributes, e.g. ``sizes().N``.

    ``N`` real points per generation, ``n_test`` held-out real points, ``generations`` and ``snapshots`` of the
    teaching chain; ``seeds`` x ``seed_generations`` (at ``seed_N``) for the many-seeds count; ``sweep_*`` for the
    N-sweep; ``n_big``, ``init_seeds``, ``stat_N``, ``stat_reps`` for the three error sources; ``paper_N`` and
    ``paper_snapshots`` for the paper's reference setting (its 0..2000 snapshots scaled by 1/50 in quick, 1/10 in
    standard); ``explore_*`` the explorer's choices; ``drift_chains`` and ``exact_chains``: chains without EM
    (:mod:`~collapse_lab.gmm.drift`) beside the many-seeds count.

    The course writes $M$ for the points per generation: ``M``, ``seed_M``, ``sweep_M``, ``stat_M``, ``paper_M``
    and ``explore_M`` are the same numbers as ``N``, ``seed_N``, ... (the names kept for older code).
    """
    s = pick(SIZES, profile)
    for old in ("N", "seed_N", "sweep_N", "stat_N", "paper_N", "explore_N"):
        setattr(s, old.replace("N", "M"), getattr(s, old))
    return s
