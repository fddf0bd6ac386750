"""Benchmark: batched EM (collapse_lab.em) against scikit-learn's GaussianMixture, per fitted mixture.

    python benchmarks/em.py [--chains 100] [--N 1000] [--k 3] [--repeat 3]

Both fit ``--chains`` data sets of N points drawn from chapter 2's teaching mixture, with the paper's settings
(full covariances, tol 1e-5, max_iter 2000, a k-means start), single-threaded (as chapter 2 runs them).
sklearn fits one data set per call; the batched EM fits all of them in one call. Prints
milliseconds per fit for each, the speed-up, and that both reach the same mean log-likelihood on average; then
the batched EM with the chains split into one group per core on threads (``COLLAPSE_LAB_WORKERS``), as
chapter 2's chains run.
"""
import argparse
import time

import numpy as np


def _sklearn(x, k, seed):
    import warnings

    from sklearn.mixture import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(k, covariance_type="full", tol=1e-5, max_iter=2000, random_state=seed).fit(x)


def main(argv=None):
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--chains", type=int, default=100)
    a.add_argument("--N", type=int, default=1000)
    a.add_argument("--k", type=int, default=3)
    a.add_argument("--repeat", type=int, default=3, help="best of this many runs of each")
    args = a.parse_args(argv)
    from collapse_lab import em, gmm

    rng = np.random.default_rng(0)
    x = np.stack([gmm.sample(gmm.TEACHING, args.N, rng) for _ in range(args.chains)])
    with gmm.one_thread():
        sk, ours = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            ll_sk = [_sklearn(xc, args.k, i).lower_bound_ for i, xc in enumerate(x)]
            sk.append(time.perf_counter() - t)
            t = time.perf_counter()
            f = em.fit(x, args.k, list(range(args.chains)))
            ours.append(time.perf_counter() - t)
    per_sk, per_ours = min(sk) / args.chains * 1e3, min(ours) / args.chains * 1e3
    print(f"{args.chains} mixtures, N = {args.N}, k = {args.k}, full covariances, tol 1e-5, k-means start, 1 thread")
    print(f"sklearn GaussianMixture, one call per fit: {per_sk:8.3f} ms per fit")
    print(f"collapse_lab.em.fit, all in one batch:    {per_ours:8.3f} ms per fit "
          f"(EM iterations per fit: median {np.median(f.n_iter):.0f}, max {f.n_iter.max()})")
    print(f"speed-up per fit: {per_sk / per_ours:.1f}x (one core each)")
    from collapse_lab.runtime import in_threads, workers

    groups = np.array_split(np.arange(args.chains), workers())
    with gmm.one_thread():
        par = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            in_threads(lambda g: em.fit(x[g], args.k, [int(i) for i in g]), groups)
            par.append(time.perf_counter() - t)
    per_par = min(par) / args.chains * 1e3
    print(f"collapse_lab.em.fit, {len(groups)} groups on {workers()} threads (as chapter 2 runs its chains): "
          f"{per_par:.3f} ms per fit, {per_sk / per_par:.1f}x sklearn on one core")
    gap = np.abs(np.array(ll_sk) - f.loglik).max()
    print(f"same random_state, same fits: largest log-likelihood difference over the {args.chains} fits {gap:.1e}")


if __name__ == "__main__":
    main()
