"""Benchmark: the exact fast sampler of the Gaussian chain against the direct samplers that draw the M points.

    python benchmarks/gaussian_chains.py [--chains 10000] [--generations 1000] [--M 100] [--subset 50]

The fast sampler advances all chains by the sufficient statistics (one normal and one chi-square per chain and
generation). The direct per-chain loop draws M points per chain and generation in python; it would take minutes
for 10,000 chains, so it is timed on ``--subset`` chains and extrapolated linearly (its cost is exactly
proportional to the number of chains: the chains are independent loops). The numpy-vectorised direct sampler
(a (chains, M) matrix per generation) is timed on the full problem too, for an honest second baseline.
"""
import argparse
import os
import time

from collapse_lab import gaussian, loop


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None):
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--chains", type=int, default=10000)
    a.add_argument("--generations", type=int, default=1000)
    a.add_argument("--M", type=int, default=100)
    a.add_argument("--subset", type=int, default=50, help="chains timed in the direct per-chain loop")
    a.add_argument("--repeat", type=int, default=3, help="best of this many fast runs")
    a.add_argument("--no-vectorised", action="store_true", help="skip the vectorised direct sampler")
    args = a.parse_args(argv)
    C, G, M = args.chains, args.generations, args.M
    print(f"Gaussian chain, M={M}: {C} chains x {G} generations  (load average {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores)")

    fast = min(timed(lambda: gaussian.fast_chains(M, G, C, seed=0, record=[G])) for _ in range(args.repeat))
    print(f"fast exact sampler        {fast:8.3f} s   ({'under' if fast < 2 else 'OVER'} the 2 s budget)")

    sub = min(args.subset, C)
    loop_sub = timed(lambda: gaussian.direct_chains(M, G, sub, seed=0, record=[G], per_chain=True))
    loop_all = loop_sub * C / sub
    print(f"direct per-chain loop     {loop_all:8.1f} s   (measured {loop_sub:.2f} s on {sub} chains, "
          f"extrapolated x{C / sub:g})")
    print(f"speed-up over the direct per-chain loop: {loop_all / fast:,.0f}x")
    if not args.no_vectorised:
        vec = timed(lambda: gaussian.direct_chains(M, G, C, seed=0, record=[G]))
        print(f"direct, numpy-vectorised  {vec:8.1f} s   (measured on all {C} chains)")
        print(f"speed-up over the vectorised direct sampler: {vec / fast:,.0f}x")
    # chapter 5's policy table calls the Gaussian experiment once per policy (quick sizes): budget 2 s each
    for policy in loop.POLICIES:
        secs = min(timed(lambda: gaussian.experiment(policy, profile="quick")) for _ in range(args.repeat))
        print(f"experiment({policy!r:13s}, quick) {secs:6.3f} s   ({'under' if secs < 2 else 'OVER'} the 2 s budget)")


if __name__ == "__main__":
    main()
