"""Benchmark: chapter 1's light-vs-heavy tail table, the previous loop against today's.

    python benchmarks/tail_table.py [--chains 2000] [--generations 300] [--case student-t:kde]

Both advance all chains together as a (chains, M) array. The previous loop computed every chain's exact tail mass
(the mass of its mixture of M Gaussian kernels beyond the original 1st/99th percentiles: 2 M normal cdfs per chain)
after every fit; the table reports only a few fits (``tail_n``: 1, 10, 30, 100, 300, 1000), so
``tails.tail_chains(..., at=n)`` computes it there only, and the fit takes both variances in one pass and the
quartiles from one sort; fit and draw write into a block's arrays made once instead of allocating new (chains, M)
arrays every generation (each such array costs page faults); more than ``tails.CHAIN_BLOCK`` chains run in blocks
on every core (``COLLAPSE_LAB_WORKERS``). Prints seconds for each and the speed-up; up to ``CHAIN_BLOCK`` chains are the same
random draws, and the printed tail fractions at the reported fits agree.
"""
import argparse
import os
import time

import numpy as np

os.environ.setdefault("COLLAPSE_LAB_QUIET", "1")


def previous(tails, dist, model, M, generations, chains, seed):
    """The loop as it was: fit, tail mass of every fit, draw (np.percentile, separate std/var passes)."""
    from scipy import special

    def fit_kde(x):
        M = x.shape[1]
        m = x.mean(1, keepdims=True)
        s0 = x.std(1)
        q75, q25 = np.percentile(x, [75, 25], axis=1)
        spread = np.minimum(s0, (q75 - q25) / 1.34)
        spread = np.where(spread > 0, spread, s0)
        h = 0.9 * spread * M ** -0.2
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(s0 > 0, np.sqrt(x.var(1, ddof=1) / (s0 ** 2 + h ** 2)), 0.0)
        return m + r[:, None] * (x - m), r * h

    def sample(model, n, rng):
        c, w = model
        pick = rng.integers(c.shape[1], size=(c.shape[0], n))
        return np.take_along_axis(c, pick, axis=1) + w[:, None] * rng.standard_normal((c.shape[0], n))

    def mass(model, lo, hi):
        c, w = model
        w = np.maximum(w, 1e-300)[:, None]
        return (special.ndtr((lo - c) / w) + special.ndtr((c - hi) / w)).mean(1)

    fit = fit_kde if model == "kde" else tails.fit_gaussian
    rng = np.random.default_rng(seed)
    lo, hi = tails.tail_bounds(dist)
    out = np.ones((generations + 1, chains))
    x = tails.draw(dist, (chains, M), rng)
    for g in range(1, generations + 1):
        m = fit(x)
        out[g] = mass(m, lo, hi) / 0.02
        x = sample(m, M, rng)
    return out


def main(argv=None):
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--chains", type=int, default=2000)
    a.add_argument("--generations", type=int, default=300)
    a.add_argument("--M", type=int, default=100)
    a.add_argument("--case", default="student-t:kde", help="distribution:model, e.g. gaussian:kde")
    args = a.parse_args(argv)
    from collapse_lab import tails
    from collapse_lab.runtime import workers

    dist, model = args.case.split(":")
    at = [g for g in (1, 10, 30, 100, 300, 1000) if g <= args.generations]
    t = time.perf_counter()
    old = previous(tails, dist, model, args.M, args.generations, args.chains, 0)
    t_old = time.perf_counter() - t
    t = time.perf_counter()
    new, _ = tails.tail_chains(dist, model, args.M, args.generations, args.chains, seed=np.random.default_rng(0), at=at)
    t_new = time.perf_counter() - t
    print(f"{args.case}: {args.chains} chains x {args.generations} fits of M = {args.M}; table at fits {at}")
    print(f"previous loop (tail mass after every fit, one thread): {t_old:7.2f} s")
    print(f"today's (tail mass at the table's fits, {-(-args.chains // tails.CHAIN_BLOCK)} "
          f"block(s) on {workers()} thread(s)): {t_new:7.2f} s")
    print(f"speed-up {t_old / t_new:.1f}x")
    if args.chains <= tails.CHAIN_BLOCK:  # one block draws what the previous loop drew: the numbers must agree
        print(f"largest difference of a tail fraction at those fits {np.abs(old[at] - new).max():.1e}")
    else:
        print(f"(more than {tails.CHAIN_BLOCK} chains run in blocks with their own random streams: only the times "
              "compare)")
    print("median surviving fraction:", {g: round(float(np.median(v)), 3) for g, v in zip(at, new)})


if __name__ == "__main__":
    main()
