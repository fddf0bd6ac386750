"""Plausible wrong answers to every exercise fail their check; differently written correct answers pass.

Each exercise keeps at least five wrong answers of the kinds learners write (global random state, a fixed seed,
inputs changed in place, a list where the next cell needs an array, a boundary off by one, an ignored parameter, a
formula slightly off) and two correct answers written in different styles. A later change to a check that lets a
wrong answer through, or rejects a correct one, fails here.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from scipy import special

from collapse_lab import checks, loop

# wrong answers are allowed their warnings (log of 0, a float of a tensor that requires grad)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")

WRONG: dict[str, dict] = {}
RIGHT: dict[str, dict] = {}


def wrong(exercise, label):
    def put(fn):
        WRONG.setdefault(exercise, {})[label] = fn
        return fn
    return put


def right(exercise, label):
    def put(fn):
        RIGHT.setdefault(exercise, {})[label] = fn
        return fn
    return put


# ---------------------------------------------------------------------------------------------------------------
# chapter 1

E = "ch1.categorical_step"
right(E, "multinomial")(lambda p, M, rng: rng.multinomial(M, p) / M)


@right(E, "choice + bincount loop")
def _(p, M, rng):
    draws = rng.choice(len(p), size=M, p=p)
    counts = np.zeros(len(p))
    for d in draws:
        counts[d] += 1
    return counts / M


wrong(E, "global np.random")(lambda p, M, rng: np.random.multinomial(M, p) / M)
wrong(E, "fixed seed")(lambda p, M, rng: np.random.default_rng(0).multinomial(M, p) / M)
wrong(E, "list")(lambda p, M, rng: [c / M for c in rng.multinomial(M, p)])
wrong(E, "counts not divided")(lambda p, M, rng: rng.multinomial(M, p).astype(float))
wrong(E, "pseudo-counts")(lambda p, M, rng: (rng.multinomial(M, p) + 1) / (M + len(p)))
wrong(E, "bincount without minlength")(lambda p, M, rng: np.bincount(rng.choice(len(p), M, p=p)) / M)


@wrong(E, "p changed in place")
def _(p, M, rng):
    p[:] = rng.multinomial(M, p) / M
    return p


wrong(E, "M + 1 samples")(lambda p, M, rng: rng.multinomial(M + 1, p) / (M + 1))

E = "ch1.expected_lost"
right(E, "vectorized")(lambda p, M: float(np.sum((1 - p[p > 0]) ** M)))
right(E, "loop over a list")(lambda p, M: sum((1 - pi) ** M for pi in list(p) if pi > 0))
wrong(E, "zeros counted")(lambda p, M: float(np.sum((1 - p) ** M)))
wrong(E, "p^M")(lambda p, M: float(np.sum(p[p > 0] ** M)))
wrong(E, "exponent M - 1")(lambda p, M: float(np.sum((1 - p[p > 0]) ** (M - 1))))
wrong(E, "array, not a sum")(lambda p, M: (1 - p[p > 0]) ** M)
wrong(E, "probability of at least one")(lambda p, M: float(1 - np.prod(1 - (1 - p[p > 0]) ** M)))


@wrong(E, "p[p == 0] = 1 in place")
def _(p, M):
    p[p == 0] = 1
    return float(np.sum((1 - p) ** M))


E = "ch1.gaussian_step"


@right(E, "standard normal and chisquare")
def _(mean, var, M, rng):
    return (mean + np.sqrt(var / M) * rng.standard_normal(np.shape(mean)),
            var * rng.chisquare(M - 1, size=np.shape(var)) / (M - 1))


@right(E, "normal and gamma, as a list")
def _(mean, var, M, rng):
    new_var = var * rng.gamma((M - 1) / 2, 2.0, size=len(var)) / (M - 1)
    new_mean = rng.normal(mean, np.sqrt(var / M))
    return [new_mean, new_var]


wrong(E, "global np.random")(lambda mean, var, M, rng: (
    mean + np.sqrt(var / M) * np.random.standard_normal(mean.shape),
    var * np.random.chisquare(M - 1, var.shape) / (M - 1)))
wrong(E, "variance as scale")(lambda mean, var, M, rng: (
    mean + var / M * rng.standard_normal(mean.shape), var * rng.chisquare(M - 1, var.shape) / (M - 1)))
wrong(E, "biased variance")(lambda mean, var, M, rng: (
    mean + np.sqrt(var / M) * rng.standard_normal(mean.shape), var * rng.chisquare(M - 1, var.shape) / M))
wrong(E, "M degrees of freedom")(lambda mean, var, M, rng: (
    mean + np.sqrt(var / M) * rng.standard_normal(mean.shape), var * rng.chisquare(M, var.shape) / M))
wrong(E, "one draw per call")(lambda mean, var, M, rng: (
    mean + np.sqrt(var / M) * rng.standard_normal(), var * rng.chisquare(M - 1) / (M - 1)))


@wrong(E, "mean updated in place")
def _(mean, var, M, rng):
    mean += np.sqrt(var / M) * rng.standard_normal(mean.shape)
    return mean, var * rng.chisquare(M - 1, var.shape) / (M - 1)


@wrong(E, "same draw for both")
def _(mean, var, M, rng):
    z = rng.chisquare(M - 1, var.shape)
    return mean + np.sqrt(var / M) * (z - (M - 1)) / np.sqrt(2 * (M - 1)), var * z / (M - 1)


E = "ch1.w2_gaussian"
right(E, "numpy")(lambda m1, v1, m2, v2: (m1 - m2) ** 2 + (np.sqrt(v1) - np.sqrt(v2)) ** 2)
right(E, "powers, expanded")(lambda m1, v1, m2, v2: (m1 - m2) ** 2 + v1 + v2 - 2 * (v1 * v2) ** 0.5)
wrong(E, "variances, not sds")(lambda m1, v1, m2, v2: (m1 - m2) ** 2 + (v1 - v2) ** 2)
wrong(E, "not squared")(lambda m1, v1, m2, v2: np.sqrt((m1 - m2) ** 2 + (np.sqrt(v1) - np.sqrt(v2)) ** 2))
wrong(E, "math.sqrt")(lambda m1, v1, m2, v2: (m1 - m2) ** 2 + (math.sqrt(v1) - math.sqrt(v2)) ** 2)
wrong(E, "absolute values")(lambda m1, v1, m2, v2: abs(m1 - m2) + abs(np.sqrt(v1) - np.sqrt(v2)))
wrong(E, "means only")(lambda m1, v1, m2, v2: (m1 - m2) ** 2 + 0 * v1)
wrong(E, "ignores v2")(lambda m1, v1, m2, v2: (m1 - m2) ** 2 + (np.sqrt(v1) - 1) ** 2)

E = "ch1.c_factor"
_lg = special.gammaln
right(E, "gammaln")(lambda M: float(np.sqrt(2 / (M - 1)) * np.exp(_lg(M / 2) - _lg((M - 1) / 2))))
right(E, "math.lgamma")(lambda M: math.exp(0.5 * math.log(2 / (M - 1)) + math.lgamma(M / 2) - math.lgamma((M - 1) / 2)))
wrong(E, "gamma overflows")(lambda M: float(np.sqrt(2 / (M - 1)) * special.gamma(M / 2) / special.gamma((M - 1) / 2)))
wrong(E, "sqrt(2/M)")(lambda M: float(np.sqrt(2 / M) * np.exp(_lg(M / 2) - _lg((M - 1) / 2))))
wrong(E, "shifted Gammas")(lambda M: float(np.sqrt(2 / (M - 1)) * np.exp(_lg((M + 1) / 2) - _lg(M / 2))))
wrong(E, "approximation")(lambda M: 1 - 1 / (4 * M))
wrong(E, "log not exponentiated")(lambda M: float(0.5 * np.log(2 / (M - 1)) + _lg(M / 2) - _lg((M - 1) / 2)))
wrong(E, "rounded")(lambda M: round(float(np.sqrt(2 / (M - 1)) * np.exp(_lg(M / 2) - _lg((M - 1) / 2))), 4))

# ---------------------------------------------------------------------------------------------------------------
# chapter 2


def _gauss(x, mean, cov):
    from scipy.stats import multivariate_normal
    return multivariate_normal.pdf(x, mean, cov)


def _cross(a, b, add=True):
    (wa, ma, ca), (wb, mb, cb) = a, b
    return sum(wa[i] * wb[j] * _gauss(ma[i], mb[j], ca[i] + cb[j] if add else ca[i])
               for i in range(len(wa)) for j in range(len(wb)))


E = "ch2.l2_distance"
right(E, "loops")(lambda p, q: float(np.sqrt(max(_cross(p, p) - 2 * _cross(p, q) + _cross(q, q), 0.0))))


@right(E, "matrices, numpy float")
def _(p, q):
    def gram(a, b):
        (wa, ma, ca), (wb, mb, cb) = a, b
        g = np.array([[_gauss(ma[i], mb[j], ca[i] + cb[j]) for j in range(len(wb))] for i in range(len(wa))])
        return wa @ g @ wb
    return np.sqrt(abs(gram(p, p) - 2 * gram(p, q) + gram(q, q)))


wrong(E, "squared")(lambda p, q: float(_cross(p, p) - 2 * _cross(p, q) + _cross(q, q)))
wrong(E, "cross term once")(lambda p, q: float(np.sqrt(abs(_cross(p, p) - _cross(p, q) + _cross(q, q)))))
wrong(E, "one covariance")(lambda p, q: float(np.sqrt(abs(_cross(p, p, False) - 2 * _cross(p, q, False)
                                                              + _cross(q, q, False)))))
wrong(E, "diagonal pairs only")(lambda p, q: float(np.sqrt(abs(sum(
    p[0][i] * p[0][i] * _gauss(p[1][i], p[1][i], 2 * p[2][i]) for i in range(len(p[0])))
    - 2 * sum(p[0][i] * q[0][i] * _gauss(p[1][i], q[1][i], p[2][i] + q[2][i]) for i in range(min(len(p[0]), len(q[0]))))
    + sum(q[0][i] ** 2 * _gauss(q[1][i], q[1][i], 2 * q[2][i]) for i in range(len(q[0])))))))
wrong(E, "weights ignored")(lambda p, q: float(np.sqrt(abs(
    _cross((np.ones_like(p[0]), p[1], p[2]), (np.ones_like(p[0]), p[1], p[2]))
    - 2 * _cross((np.ones_like(p[0]), p[1], p[2]), (np.ones_like(q[0]), q[1], q[2]))
    + _cross((np.ones_like(q[0]), q[1], q[2]), (np.ones_like(q[0]), q[1], q[2]))))))


@wrong(E, "weights normalised in place")
def _(p, q):
    p[0][:] = p[0] / p[0].sum()
    p[0][0] += 0.0 if len(p[0]) > 1 else 1e-3
    return float(np.sqrt(max(_cross(p, p) - 2 * _cross(p, q) + _cross(q, q), 0.0)))


def _gm(k, data, random_state, **kw):
    from sklearn.mixture import GaussianMixture
    return GaussianMixture(k, covariance_type="full", tol=1e-5, max_iter=2000, random_state=random_state,
                           **kw).fit(data)


def _sample_ok(model, n, rng):
    w, m, c = model
    counts = rng.multinomial(n, w / w.sum())
    return np.concatenate([rng.multivariate_normal(m[j], c[j], size=counts[j]) for j in range(len(w))])


def _family(k, fit=None, sample=None):
    def fit_ok(data, rng):
        g = _gm(k, data, int(rng.integers(2**31 - 1)))
        return g.weights_, g.means_, g.covariances_
    return loop.Family(fit=fit or fit_ok, sample=sample or _sample_ok)


E = "ch2.gmm_family"
right(E, "as in the solution")(lambda k: _family(k))


@right(E, "a class with methods, Cholesky sampling")
def _(k):
    class Fam:
        def fit(self, data, rng):
            g = _gm(k, data, rng.integers(10**6))
            return (g.weights_, g.means_, g.covariances_)

        def sample(self, model, n, rng):
            w, m, c = model
            comp = np.repeat(np.arange(len(w)), rng.multinomial(n, w))
            z = rng.standard_normal((n, m.shape[1]))
            return m[comp] + np.einsum("nij,nj->ni", np.linalg.cholesky(c)[comp], z)
    return Fam()


wrong(E, "random_state=None (global)")(lambda k: _family(k, fit=lambda d, rng: (
    lambda g: (g.weights_, g.means_, g.covariances_))(_gm(k, d, None))))
wrong(E, "fixed random_state=0")(lambda k: _family(k, fit=lambda d, rng: (
    lambda g: (g.weights_, g.means_, g.covariances_))(_gm(k, d, 0))))
wrong(E, "always 3 components")(lambda k: _family(3))
wrong(E, "sklearn object")(lambda k: _family(k, fit=lambda d, rng: _gm(k, d, int(rng.integers(1000)))))
wrong(E, "sampler drops correlations")(lambda k: _family(k, sample=lambda mo, n, rng: np.concatenate(
    [rng.normal(mo[1][j], np.sqrt(np.diag(mo[2][j])), (c, len(mo[1][j])))
     for j, c in enumerate(rng.multinomial(n, mo[0]))])))
wrong(E, "global np.random in sample")(lambda k: _family(k, sample=lambda mo, n, rng: np.concatenate(
    [np.random.multivariate_normal(mo[1][j], mo[2][j], c) for j, c in enumerate(rng.multinomial(n, mo[0]))])))
wrong(E, "rounded counts")(lambda k: _family(k, sample=lambda mo, n, rng: np.concatenate(
    [rng.multivariate_normal(mo[1][j], mo[2][j], c)
     for j, c in enumerate(np.diff(np.round(np.cumsum(np.r_[0, mo[0]]) * n)).astype(int))])))


@wrong(E, "weights renormalised in place")
def _(k):
    def sample(model, n, rng):
        model[0][:] = model[0] / model[0].sum() + 0.0
        model[0][0] *= 1.0000001
        return _sample_ok(model, n, rng)
    return _family(k, sample=sample)


wrong(E, "diagonal covariances")(lambda k: _family(k, fit=lambda d, rng: (
    lambda g: (g.weights_, g.means_, np.array([np.diag(v) for v in g.covariances_])))(
        _gm(k, d, int(rng.integers(1000)), covariance_type="diag") if False else _gm_diag(k, d, rng))))


def _gm_diag(k, d, rng):
    from sklearn.mixture import GaussianMixture
    return GaussianMixture(k, covariance_type="diag", tol=1e-5, max_iter=2000,
                           random_state=int(rng.integers(1000))).fit(d)


E = "ch2.lost_at"


@right(E, "flatnonzero")
def _(mass, original, below=0.1):
    hit = np.flatnonzero(np.asarray(mass) < below * original)
    return int(hit[0]) if hit.size else None


@right(E, "loop, relative form")
def _(mass, original, below=0.1):
    for g, m in enumerate(mass):
        if m / original < below:
            return g
    return None


wrong(E, "<= instead of <")(lambda mass, original, below=0.1: next(
    (g for g, m in enumerate(mass) if m <= below * original), None))
wrong(E, "-1 when never")(lambda mass, original, below=0.1: next(
    (g for g, m in enumerate(mass) if m < below * original), -1))
wrong(E, "1-based")(lambda mass, original, below=0.1: next(
    (g + 1 for g, m in enumerate(mass) if m < below * original), None))
wrong(E, "last passage")(lambda mass, original, below=0.1: (lambda h: int(h[-1]) if h.size else None)(
    np.flatnonzero(np.asarray(mass) < below * original)))
wrong(E, "original ignored")(lambda mass, original, below=0.1: next(
    (g for g, m in enumerate(mass) if m < below * mass[0]), None))
wrong(E, "below fixed at 0.1")(lambda mass, original, below=0.1: next(
    (g for g, m in enumerate(mass) if m < 0.1 * original), None))
wrong(E, "numpy bool argmax")(lambda mass, original, below=0.1: int(np.argmax(np.asarray(mass) < below * original)))
wrong(E, "float index")(lambda mass, original, below=0.1: next(
    (float(g) for g, m in enumerate(mass) if m < below * original), None))

E = "ch2.weight_sd"
right(E, "closed form")(lambda w, n, g: float(np.sqrt(w * (1 - w) * (1 - (1 - 1 / n) ** g))))


@right(E, "the recursion, iterated")
def _(w, n, g):
    var = 0.0
    for _ in range(g):
        var = var + (w * (1 - w) - var) / n
    return math.sqrt(var)


wrong(E, "one generation")(lambda w, n, g: math.sqrt(w * (1 - w) / n))
wrong(E, "linear growth")(lambda w, n, g: math.sqrt(g * w * (1 - w) / n))
wrong(E, "variance")(lambda w, n, g: w * (1 - w) * (1 - (1 - 1 / n) ** g))
wrong(E, "exponent g + 1")(lambda w, n, g: math.sqrt(w * (1 - w) * (1 - (1 - 1 / n) ** (g + 1))))
wrong(E, "1/n instead of 1 - 1/n")(lambda w, n, g: math.sqrt(w * (1 - w) * (1 - (1 / n) ** g)))
wrong(E, "no w(1-w)")(lambda w, n, g: math.sqrt(1 - (1 - 1 / n) ** g) / 2)


def _hungarian(r, f, sq=True):
    from scipy.optimize import linear_sum_assignment
    cost = ((r[:, None, :] - f[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost if sq else np.sqrt(cost))
    out = np.full(len(r), -1)
    out[rows] = cols
    return out


E = "ch2.match_modes"
right(E, "broadcast cost")(_hungarian)


@right(E, "cdist and a loop")
def _(ref_means, fit_means):
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist
    rows, cols = linear_sum_assignment(cdist(ref_means, fit_means, "sqeuclidean"))
    out = -np.ones(len(ref_means), dtype=int)
    for r, c in zip(rows, cols):
        out[r] = c
    return out


wrong(E, "nearest per mode")(lambda r, f: ((r[:, None] - f[None]) ** 2).sum(-1).argmin(1))
wrong(E, "unsquared distances")(lambda r, f: _hungarian(r, f, sq=False))
wrong(E, "list")(lambda r, f: _hungarian(r, f).tolist())
wrong(E, "columns only")(lambda r, f: __import__("scipy.optimize").optimize.linear_sum_assignment(
    ((r[:, None] - f[None]) ** 2).sum(-1))[1])
wrong(E, "float with nan")(lambda r, f: np.where(_hungarian(r, f) < 0, np.nan, _hungarian(r, f)))


@wrong(E, "greedy")
def _(r, f):
    cost = ((r[:, None] - f[None]) ** 2).sum(-1)
    out, used = np.full(len(r), -1), set()
    for i in range(len(r)):
        free = [j for j in range(len(f)) if j not in used]
        if free:
            out[i] = min(free, key=lambda j: cost[i, j])
            used.add(out[i])
    return out


# ---------------------------------------------------------------------------------------------------------------
# chapter 3

F = torch.nn.functional
E = "ch3.vae_loss"
right(E, "functional bce")(lambda x, recon, mu, logvar: F.binary_cross_entropy(recon, x, reduction="sum")
                           - 0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp()))


@right(E, "written out, per image then summed")
def _(x, recon, mu, logvar):
    bce = -(x * torch.log(recon) + (1 - x) * torch.log(1 - recon)).flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + torch.exp(logvar) - 1 - logvar).sum(dim=1)
    return (bce + kl).sum()


wrong(E, "bce only")(lambda x, recon, mu, logvar: F.binary_cross_entropy(recon, x, reduction="sum"))
wrong(E, "mean over the batch")(lambda x, recon, mu, logvar: (F.binary_cross_entropy(recon, x, reduction="sum")
                                - 0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())) / len(x))
wrong(E, "a Python float")(lambda x, recon, mu, logvar: float(F.binary_cross_entropy(recon, x, reduction="sum")
                           - 0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())))
wrong(E, "KL sign")(lambda x, recon, mu, logvar: F.binary_cross_entropy(recon, x, reduction="sum")
                    + 0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp()))
wrong(E, "mean bce")(lambda x, recon, mu, logvar: F.binary_cross_entropy(recon, x)
                     - 0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp()))
wrong(E, "per-image vector")(lambda x, recon, mu, logvar: F.binary_cross_entropy(recon, x, reduction="none")
                             .flatten(1).sum(1) - 0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=1))


@wrong(E, "under no_grad")
def _(x, recon, mu, logvar):
    with torch.no_grad():
        return F.binary_cross_entropy(recon, x, reduction="sum") - 0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())


@wrong(E, "numpy inside")
def _(x, recon, mu, logvar):
    r, t = recon.detach().numpy(), x.numpy()
    bce = -(t * np.log(r) + (1 - t) * np.log(1 - r)).sum()
    return torch.tensor(bce) - 0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())


E = "ch3.reparameterise"
right(E, "exp(0.5 logvar)")(lambda mu, logvar, eps: mu + torch.exp(0.5 * logvar) * eps)
right(E, "sqrt of exp")(lambda mu, logvar, eps: eps.mul(logvar.exp().sqrt()).add(mu))
wrong(E, "variance as scale")(lambda mu, logvar, eps: mu + torch.exp(logvar) * eps)
wrong(E, "logvar as scale")(lambda mu, logvar, eps: mu + logvar * eps)
wrong(E, "own noise")(lambda mu, logvar, eps: mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
wrong(E, "detached")(lambda mu, logvar, eps: (mu + torch.exp(0.5 * logvar) * eps).detach())
wrong(E, "numpy")(lambda mu, logvar, eps: mu.detach().numpy() + np.exp(0.5 * logvar.detach().numpy()) * eps.numpy())
wrong(E, "sigma detached")(lambda mu, logvar, eps: mu + torch.exp(0.5 * logvar).detach() * eps)


@wrong(E, "eps scaled in place")
def _(mu, logvar, eps):
    eps.mul_(torch.exp(0.5 * logvar.detach()))
    return mu + eps * 1.0 if not logvar.requires_grad else mu + torch.exp(0.5 * logvar) * eps / torch.exp(
        0.5 * logvar.detach())


E = "ch3.latent_spread"
right(E, "numpy std")(lambda mu: float(np.asarray(mu).std(axis=0).mean()))


@right(E, "by hand, loop over dimensions")
def _(mu):
    sds = []
    for j in range(mu.shape[1]):
        col = mu[:, j]
        sds.append(math.sqrt(sum((v - col.mean()) ** 2 for v in col) / len(col)))
    return sum(sds) / len(sds)


wrong(E, "ddof=1")(lambda mu: float(mu.std(axis=0, ddof=1).mean()))
wrong(E, "axis 1")(lambda mu: float(mu.std(axis=1).mean()))
wrong(E, "overall std")(lambda mu: float(mu.std()))
wrong(E, "sqrt of mean variance")(lambda mu: float(np.sqrt(mu.var(axis=0).mean())))
wrong(E, "per-dimension array")(lambda mu: mu.std(axis=0))


@wrong(E, "centred in place")
def _(mu):
    mu -= mu.mean(axis=0)
    return float(np.sqrt((mu ** 2).mean(axis=0)).mean())


E = "ch3.class_entropy"


@right(E, "bincount")
def _(labels, n_classes):
    p = np.bincount(np.asarray(labels), minlength=n_classes) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


right(E, "Counter")(lambda labels, n_classes: -sum(c / len(labels) * math.log2(c / len(labels))
                                                   for c in Counter(labels.tolist()).values()))
wrong(E, "nats")(lambda labels, n_classes: float(-sum(c / len(labels) * np.log(c / len(labels))
                                                      for c in Counter(labels.tolist()).values())))
wrong(E, "divided by n_classes")(lambda labels, n_classes: float(-sum(
    c / n_classes * np.log2(c / n_classes) for c in Counter(labels.tolist()).values())))
wrong(E, "normalised")(lambda labels, n_classes: -sum(
    c / len(labels) * math.log2(c / len(labels)) for c in Counter(labels.tolist()).values()) / math.log2(n_classes))
wrong(E, "2**H")(lambda labels, n_classes: 2 ** -sum(c / len(labels) * math.log2(c / len(labels))
                                                     for c in Counter(labels.tolist()).values()))
wrong(E, "empty classes kept (nan)")(lambda labels, n_classes: float(-np.sum(
    (lambda p: p * np.log2(p))(np.bincount(labels, minlength=n_classes) / len(labels)))))


@wrong(E, "labels sorted in place")
def _(labels, n_classes):
    labels.sort()
    p = np.bincount(labels, minlength=n_classes) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


# ---------------------------------------------------------------------------------------------------------------
# chapter 4

E = "ch4.pack_blocks"
right(E, "reshape")(lambda ids, size=64: np.asarray(ids)[: len(ids) // size * size].reshape(-1, size))
right(E, "stack of slices")(lambda ids, size=64: np.array(
    [ids[i * size:(i + 1) * size] for i in range(len(ids) // size)], dtype=ids.dtype).reshape(-1, size))
wrong(E, "list of blocks")(lambda ids, size=64: [ids[i * size:(i + 1) * size] for i in range(len(ids) // size)])
wrong(E, "size fixed at 64")(lambda ids, size=64: np.asarray(ids)[: len(ids) // 64 * 64].reshape(-1, 64))
wrong(E, "partial block padded")(lambda ids, size=64: np.pad(ids, (0, -len(ids) % size)).reshape(-1, size))
wrong(E, "float dtype")(lambda ids, size=64: np.asarray(ids, dtype=float)[: len(ids) // size * size].reshape(-1, size))
wrong(E, "column-major")(lambda ids, size=64: np.asarray(ids)[: len(ids) // size * size].reshape(size, -1).T)
wrong(E, "one block too few")(lambda ids, size=64: np.asarray(ids)[: max(len(ids) // size - 1, 0) * size]
                              .reshape(-1, size))
wrong(E, "trailing tokens kept")(lambda ids, size=64: np.asarray(ids)[len(ids) % size:].reshape(-1, size))

E = "ch4.perplexities"
right(E, "numpy")(lambda losses: (float(np.exp(losses.mean())), np.exp(losses.mean(axis=1))))
right(E, "loop, a list pair")(lambda losses: [math.exp(sum(map(sum, losses)) / losses.size),
                                              np.array([math.exp(sum(r) / len(r)) for r in losses])])
wrong(E, "mean of block perplexities")(lambda losses: (float(np.exp(losses.mean(axis=1)).mean()),
                                                       np.exp(losses.mean(axis=1))))
wrong(E, "per-block as a list")(lambda losses: (float(np.exp(losses.mean())),
                                                [math.exp(r.mean()) for r in losses]))
wrong(E, "per token position")(lambda losses: (float(np.exp(losses.mean())), np.exp(losses.mean(axis=0))))
wrong(E, "exp of the sum")(lambda losses: (float(np.exp(losses.sum())), np.exp(losses.sum(axis=1))))
wrong(E, "base 2")(lambda losses: (float(2 ** losses.mean()), 2 ** losses.mean(axis=1)))
wrong(E, "swapped")(lambda losses: (np.exp(losses.mean(axis=1)), float(np.exp(losses.mean()))))


@wrong(E, "losses exponentiated in place")
def _(losses):
    np.exp(losses, out=losses)
    return float(np.exp(np.log(losses).mean())), np.exp(np.log(losses).mean(axis=1))


def _cont(prompts, outputs):
    return outputs[:, prompts.shape[1]:]


E = "ch4.next_training_set"


@right(E, "all and slice")
def _(prompts, outputs):
    L = prompts.shape[1]
    if not np.array_equal(outputs[:, :L], prompts):
        raise ValueError("outputs do not start with their prompts")
    return outputs[:, L:]


@right(E, "row loop")
def _(prompts, outputs):
    out = []
    for p, o in zip(prompts, outputs):
        if list(o[:len(p)]) != list(p):
            raise ValueError("mismatch")
        out.append(o[len(p):])
    return np.array(out)


wrong(E, "no validation")(_cont)
wrong(E, "64 hard-coded")(lambda prompts, outputs: (_ for _ in ()).throw(ValueError("x"))
                          if not (outputs[:, :prompts.shape[1]] == prompts).all() else outputs[:, 64:])


@wrong(E, "first token only")
def _(prompts, outputs):
    if not (outputs[:, 0] == prompts[:, 0]).all():
        raise ValueError("mismatch")
    return _cont(prompts, outputs)


@wrong(E, "first row only")
def _(prompts, outputs):
    if not (outputs[0, :prompts.shape[1]] == prompts[0]).all():
        raise ValueError("mismatch")
    return _cont(prompts, outputs)


@wrong(E, "any prompt, not its own")
def _(prompts, outputs):
    known = {tuple(p) for p in prompts.tolist()}
    if any(tuple(o[:prompts.shape[1]]) not in known for o in outputs.tolist()):
        raise ValueError("mismatch")
    return _cont(prompts, outputs)


@wrong(E, "assert instead of ValueError")
def _(prompts, outputs):
    assert (outputs[:, :prompts.shape[1]] == prompts).all(), "mismatch"
    return _cont(prompts, outputs)


@wrong(E, "includes the last prompt token")
def _(prompts, outputs):
    if not (outputs[:, :prompts.shape[1]] == prompts).all():
        raise ValueError("mismatch")
    return outputs[:, prompts.shape[1] - 1:]


E = "ch4.distinct_n"


@right(E, "set of tuples")
def _(sequences, n):
    grams = [tuple(s[i:i + n]) for s in sequences for i in range(len(s) - n + 1)]
    return len(set(grams)), (len(set(grams)) / len(grams) if grams else 0.0)


@right(E, "Counter, as a list")
def _(sequences, n):
    c = Counter()
    for s in sequences:
        c.update(zip(*(s[j:] for j in range(n))))
    total = sum(c.values())
    return [len(c), len(c) / total if total else 0.0]


wrong(E, "across sequences")(lambda seqs, n: (lambda f: (lambda g: (len(set(g)), len(set(g)) / len(g) if g else 0.0))(
    [tuple(f[i:i + n]) for i in range(len(f) - n + 1)]))([t for s in seqs for t in s]))
wrong(E, "share over tokens")(lambda seqs, n: (lambda g: (len(set(g)), len(set(g)) / max(sum(map(len, seqs)), 1)))(
    [tuple(s[i:i + n]) for s in seqs for i in range(len(s) - n + 1)]))
wrong(E, "no zero guard")(lambda seqs, n: (lambda g: (len(set(g)), len(set(g)) / len(g)))(
    [tuple(s[i:i + n]) for s in seqs for i in range(len(s) - n + 1)]))
wrong(E, "last n-gram missed")(lambda seqs, n: (lambda g: (len(set(g)), len(set(g)) / len(g) if g else 0.0))(
    [tuple(s[i:i + n]) for s in seqs for i in range(len(s) - n)]))
wrong(E, "distinct per sequence, summed")(lambda seqs, n: (lambda per: (sum(per), 0.0))(
    [len({tuple(s[i:i + n]) for i in range(len(s) - n + 1)}) for s in seqs]))
wrong(E, "bigrams always")(lambda seqs, n: (lambda g: (len(set(g)), len(set(g)) / len(g) if g else 0.0))(
    [tuple(s[i:i + 2]) for s in seqs for i in range(len(s) - 1)]))
wrong(E, "share as count")(lambda seqs, n: (lambda g: (len(set(g)) / len(g) if g else 0.0, len(set(g))))(
    [tuple(s[i:i + n]) for s in seqs for i in range(len(s) - n + 1)]))


E = "ch4.mix_training_set"


@right(E, "choice without replacement")
def _(real, synthetic, fraction, rng):
    k = int(round(fraction * len(real)))
    return np.concatenate([real[rng.choice(len(real), size=k, replace=False)], synthetic])


@right(E, "permutation, vstack")
def _(real, synthetic, fraction, rng):
    k = round(fraction * len(real))
    idx = rng.permutation(len(real))[:k]
    return np.vstack([real[np.sort(idx)], synthetic])


wrong(E, "int() instead of round()")(lambda real, syn, f, rng: np.concatenate(
    [real[rng.choice(len(real), int(f * len(real)), replace=False)], syn]))
wrong(E, "global np.random")(lambda real, syn, f, rng: np.concatenate(
    [real[np.random.choice(len(real), round(f * len(real)), replace=False)], syn]))
wrong(E, "with replacement")(lambda real, syn, f, rng: np.concatenate(
    [real[rng.integers(0, len(real), round(f * len(real)))], syn]))
wrong(E, "fixed seed")(lambda real, syn, f, rng: np.concatenate(
    [real[np.random.default_rng(0).choice(len(real), round(f * len(real)), replace=False)], syn]))
wrong(E, "the first k rows")(lambda real, syn, f, rng: np.concatenate([real[: round(f * len(real))], syn]))
wrong(E, "synthetic first")(lambda real, syn, f, rng: np.concatenate(
    [syn, real[rng.choice(len(real), round(f * len(real)), replace=False)]]))
wrong(E, "a list of rows")(lambda real, syn, f, rng: list(real[rng.choice(len(real), round(f * len(real)),
                                                                          replace=False)]) + list(syn))


@wrong(E, "rng.shuffle(real)")
def _(real, synthetic, fraction, rng):
    rng.shuffle(real)
    return np.concatenate([real[: round(fraction * len(real))], synthetic])


# ---------------------------------------------------------------------------------------------------------------
# chapter 5

E = "ch5.linreg_errors"


@right(E, "loop")
def _(n, d, T, s):
    base = s**2 * d / (T - d - 1)
    return base * n, base * sum(1.0 / i**2 for i in range(1, n + 1))


right(E, "numpy, a list")(lambda n, d, T, s: [float(s**2 * d / (T - d - 1) * n),
                                              float(s**2 * d / (T - d - 1) * np.sum(1 / np.arange(1, n + 1) ** 2))])
wrong(E, "swapped")(lambda n, d, T, s: (s**2 * d / (T - d - 1) * sum(1 / i**2 for i in range(1, n + 1)),
                                        s**2 * d / (T - d - 1) * n))
wrong(E, "s not squared")(lambda n, d, T, s: (s * d / (T - d - 1) * n,
                                              s * d / (T - d - 1) * sum(1 / i**2 for i in range(1, n + 1))))
wrong(E, "T - d")(lambda n, d, T, s: (s**2 * d / (T - d) * n,
                                      s**2 * d / (T - d) * sum(1 / i**2 for i in range(1, n + 1))))
wrong(E, "1/i")(lambda n, d, T, s: (s**2 * d / (T - d - 1) * n,
                                    s**2 * d / (T - d - 1) * sum(1 / i for i in range(1, n + 1))))
wrong(E, "sum to n - 1")(lambda n, d, T, s: (s**2 * d / (T - d - 1) * n,
                                             s**2 * d / (T - d - 1) * sum(1 / i**2 for i in range(1, n))))
wrong(E, "n - 1 fits")(lambda n, d, T, s: (s**2 * d / (T - d - 1) * (n - 1),
                                           s**2 * d / (T - d - 1) * sum(1 / i**2 for i in range(1, n + 1))))
wrong(E, "d ignored")(lambda n, d, T, s: (s**2 * 10 / (T - 11) * n,
                                          s**2 * 10 / (T - 11) * sum(1 / i**2 for i in range(1, n + 1))))


def _window(n_synthetic=None, build=None, keeps_history=True):
    class Window:
        def __init__(self, window):
            self.window = window
            self.keeps_history = keeps_history

        def n_synthetic(self, n_real):
            return n_real if n_synthetic is None else n_synthetic(self, n_real)

        def build(self, real, synthetic_sets, rng):
            if build is not None:
                return build(self, real, synthetic_sets, rng)
            return loop.concat([real, *synthetic_sets[-self.window:]])
    return Window


E = "ch5.window_policy"
right(E, "loop.concat")(_window())
right(E, "np.concatenate of a reversed loop")(_window(build=lambda self, real, sets, rng: np.concatenate(
    [real] + [sets[len(sets) - 1 - i] for i in range(min(self.window, len(sets)))])))
wrong(E, "no keeps_history")(_window(keeps_history=False))
wrong(E, "n_synthetic times window")(_window(n_synthetic=lambda self, n: n * self.window))
wrong(E, "oldest sets")(_window(build=lambda self, real, sets, rng: loop.concat([real, *sets[:self.window]])))
wrong(E, "real data left out")(_window(build=lambda self, real, sets, rng: loop.concat(sets[-self.window:])))
wrong(E, "last set only")(_window(build=lambda self, real, sets, rng: loop.concat([real, sets[-1]])))
wrong(E, "window + 1 sets")(_window(build=lambda self, real, sets, rng: loop.concat([real, *sets[-self.window - 1:]])))


@wrong(E, "pops old sets from the history")
def _():
    def build(self, real, sets, rng):
        while len(sets) > self.window:
            sets.pop(0)
        return loop.concat([real, *sets])
    return _window(build=build)


WRONG[E]["pops old sets from the history"] = WRONG[E]["pops old sets from the history"]()

E = "ch5.minimal_fraction"


@right(E, "sorted loop, positional run")
def _(run, fractions, tol, seeds):
    for f in sorted(fractions):
        if np.mean([run(f, s) for s in range(seeds)]) <= tol:
            return f
    return None


@right(E, "keyword seed, while loop")
def _(run, fractions, tol, seeds):
    order = np.sort(np.asarray(fractions, dtype=float))
    i = 0
    while i < len(order):
        total = 0.0
        for s in range(seeds):
            total += run(order[i], seed=s)
        if total / seeds <= tol:
            return float(order[i])
        i += 1
    return None


def _minimal(fractions_of, mean_of, cmp=lambda m, tol: m <= tol, none=None):
    def fn(run, fractions, tol, seeds):
        for f in fractions_of(fractions):
            if cmp(mean_of(run, f, seeds), tol):
                return f
        return none
    return fn


_avg = lambda run, f, seeds: np.mean([run(f, s) for s in range(seeds)])  # noqa: E731
wrong(E, "< instead of <=")(_minimal(sorted, _avg, cmp=lambda m, tol: m < tol))
wrong(E, "unsorted")(_minimal(list, _avg))
wrong(E, "first seed only")(_minimal(sorted, lambda run, f, seeds: run(f, 0)))
wrong(E, "seeds 1..seeds")(_minimal(sorted, lambda run, f, seeds: np.mean([run(f, s) for s in range(1, seeds + 1)])))
wrong(E, "largest fraction when none")(_minimal(sorted, _avg, none=0.5))
wrong(E, "seed as keyword s")(_minimal(sorted, lambda run, f, seeds: np.mean([run(f, s=s) for s in range(seeds)])))


@wrong(E, "every fraction run, then the best")
def _(run, fractions, tol, seeds):
    means = {f: np.mean([run(f, s) for s in range(seeds)]) for f in fractions}
    good = [f for f, m in means.items() if m <= tol]
    return min(good) if good else None


@wrong(E, "fractions sorted in place")
def _(run, fractions, tol, seeds):
    if isinstance(fractions, list):
        fractions.sort()
    for f in sorted(fractions):
        if np.mean([run(f, s) for s in range(seeds)]) <= tol:
            return f
    return None


def _alarm(masses=lambda x, lo, hi: np.array([np.mean(x < lo), np.mean(x > hi)]),
           fire=lambda now, ref, tol: np.max(1 - now / ref) > tol, q_fixed=None, start=0, none=None):
    def fn(samples_by_gen, reference, q, tol):
        q = q if q_fixed is None else q_fixed
        lo, hi = np.quantile(reference, [q, 1 - q])
        ref = masses(reference, lo, hi)
        for g, x in enumerate(samples_by_gen, start):
            if fire(masses(np.asarray(x), lo, hi), ref, tol):
                return g
        return none
    return fn


E = "ch5.tail_alarm"
right(E, "vectorised sides")(_alarm())


@right(E, "sorted reference copy, loop over sides")
def _(samples_by_gen, reference, q, tol):
    srt = np.sort(reference)
    lo, hi = np.quantile(srt, q), np.quantile(srt, 1 - q)
    ref_lo, ref_hi = (srt < lo).mean(), (srt > hi).mean()
    for g in range(len(samples_by_gen)):
        x = samples_by_gen[g]
        for now, before in (((x < lo).mean(), ref_lo), ((x > hi).mean(), ref_hi)):
            if before > 0 and (before - now) / before > tol:
                return g
    return None


wrong(E, "both tails summed")(_alarm(masses=lambda x, lo, hi: np.array([np.mean(x < lo) + np.mean(x > hi)])))
wrong(E, "lower tail only")(_alarm(masses=lambda x, lo, hi: np.array([np.mean(x < lo)])))
wrong(E, "growth is an alarm too")(_alarm(fire=lambda now, ref, tol: np.max(np.abs(1 - now / ref)) > tol))
wrong(E, "q fixed at 1%")(_alarm(q_fixed=0.01))
wrong(E, ">= tol")(_alarm(fire=lambda now, ref, tol: np.max(1 - now / ref) >= tol))
wrong(E, "1-based generations")(_alarm(start=1))
wrong(E, "-1 when quiet")(_alarm(none=-1))


@wrong(E, "reference sorted in place")
def _(samples_by_gen, reference, q, tol):
    reference.sort()
    return _alarm()(samples_by_gen, reference, q, tol)


@wrong(E, "baseline q, not the reference's tail mass")
def _(samples_by_gen, reference, q, tol):
    lo, hi = np.quantile(reference, [q, 1 - q])
    for g, x in enumerate(samples_by_gen):
        if max(1 - np.mean(x < lo) / q, 1 - np.mean(x > hi) / q) > tol:
            return g
    return None


@wrong(E, "<= and >= at the cut points")
def _(samples_by_gen, reference, q, tol):
    lo, hi = np.quantile(reference, [q, 1 - q])
    ref = np.array([np.mean(reference <= lo), np.mean(reference >= hi)])
    for g, x in enumerate(samples_by_gen):
        if np.max(1 - np.array([np.mean(x <= lo), np.mean(x >= hi)]) / ref) > tol:
            return g
    return None


@wrong(E, "quantiles of each generation")
def _(samples_by_gen, reference, q, tol):
    for g, x in enumerate(samples_by_gen):
        lo, hi = np.quantile(x, [q, 1 - q])
        if np.mean(x < lo) < (1 - tol) * q or np.mean(x > hi) < (1 - tol) * q:
            return g
    return None


# ---------------------------------------------------------------------------------------------------------------
# the tests

def _check(exercise):
    ch, name = exercise.split(".")
    return getattr(getattr(checks, ch), name)


CASES_WRONG = [(e, label) for e, d in WRONG.items() for label in d]

# the hint a failure shows names the likeliest mistake (a few that were once misdirected)
HINTS = {
    ("ch2.gmm_family", "sampler drops correlations"): "full covariance",
    ("ch2.gmm_family", "sklearn object"): "not the sklearn object",
    ("ch4.pack_blocks", "list of blocks"): "not a list",
    ("ch2.lost_at", "<= instead of <"): "strict",
    ("ch4.mix_training_set", "int() instead of round()"): "int()",
    ("ch5.minimal_fraction", "< instead of <="): "exactly equal",
    ("ch5.minimal_fraction", "every fraction run, then the best"): "stop at the first",
    ("ch5.tail_alarm", "growth is an alarm too"): "growing tails",
    ("ch5.tail_alarm", "baseline q, not the reference's tail mass"): "own tail mass",
    ("ch5.tail_alarm", "<= and >= at the cut points"): "strictly beyond",
    ("ch3.vae_loss", "under no_grad"): "torch.no_grad()",
    ("ch1.categorical_step", "global np.random"): "rng",
    ("ch4.mix_training_set", "rng.shuffle(real)"): "in-place change",
}


def _solution_lines():
    """The lines of code between the solution markers of every solution notebook (no hint may quote them)."""
    import nbformat
    from pathlib import Path

    out = set()
    for path in sorted((Path(__file__).resolve().parent.parent / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            inside = False
            for line in cell.source.splitlines():
                stripped = line.strip()
                if stripped.startswith("### BEGIN SOLUTION"):
                    inside = True
                elif stripped.startswith("### END SOLUTION"):
                    inside = False
                elif inside and len(stripped) >= 16 and not stripped.startswith(("return None", "#", "def ")):
                    out.add(stripped)
    return out


SOLUTION_LINES = _solution_lines()
CASES_RIGHT = [(e, label) for e, d in RIGHT.items() for label in d]


def test_every_exercise_keeps_five_wrong_and_two_right_answers():
    assert len(WRONG) == len(RIGHT) == 23
    assert set(WRONG) == set(RIGHT)
    assert all(len(d) >= 5 for d in WRONG.values())
    assert all(len(d) >= 2 for d in RIGHT.values())


@pytest.mark.parametrize("exercise,label", CASES_WRONG, ids=[f"{e}:{lbl}" for e, lbl in CASES_WRONG])
def test_a_wrong_answer_fails(exercise, label, capsys):
    with pytest.raises(AssertionError) as err:
        _check(exercise)(WRONG[exercise][label])
    text = str(err.value)
    assert "expected" in text and "hint:" in text
    assert "np.float64(" not in text and "np.int64(" not in text
    assert max(len(line) for line in text.splitlines()) <= 110
    assert "\u2713" not in capsys.readouterr().out
    assert not [line for line in SOLUTION_LINES if line in text]
    if (exercise, label) in HINTS:
        assert HINTS[exercise, label] in text.split("hint:", 1)[1]


@pytest.mark.parametrize("exercise,label", CASES_RIGHT, ids=[f"{e}:{lbl}" for e, lbl in CASES_RIGHT])
def test_a_correct_answer_passes(exercise, label, capsys):
    _check(exercise)(RIGHT[exercise][label])
    out = capsys.readouterr().out
    assert out.startswith("\u2713") and max(len(line) for line in out.splitlines()) <= 110


class _CopyingProxy:
    """Stands in for a learner's function the way the grader's remote proxy does: the function sees copies of the
    arguments, arrays it changes are copied back into the caller's, a Generator's state is synced back, and the
    result is a copy. A check that relied on object identity between the two sides would break here."""

    def __init__(self, fn):
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "proxy")

    def __call__(self, *args, **kwargs):
        import copy

        args2, kwargs2 = copy.deepcopy(args), copy.deepcopy(kwargs)
        out = self.fn(*args2, **kwargs2)
        for a, b in zip(list(args) + list(kwargs.values()), list(args2) + list(kwargs2.values())):
            if isinstance(a, np.ndarray) and a.flags.writeable and a.shape == np.shape(b):
                np.copyto(a, b)
            elif isinstance(a, np.random.Generator):
                a.bit_generator.state = b.bit_generator.state
        return copy.deepcopy(out)


# exercises whose function takes and returns plain data (the others return objects or need gradients)
PLAIN = [e for e in RIGHT if e not in ("ch2.gmm_family", "ch5.window_policy", "ch3.vae_loss", "ch3.reparameterise")]
PROXY_RIGHT = [(e, label) for e in PLAIN for label in RIGHT[e]][::2]
PROXY_WRONG = [(e, label) for e in PLAIN for label in WRONG[e]
               if ("place" in label or "global" in label or "fixed" in label or "shuffle" in label)
               and label != "fractions sorted in place"]  # lists are not copied back, only arrays


@pytest.mark.parametrize("exercise,label", PROXY_RIGHT, ids=[f"{e}:{lbl}" for e, lbl in PROXY_RIGHT])
def test_a_correct_answer_passes_through_a_copying_proxy(exercise, label, capsys):
    _check(exercise)(_CopyingProxy(RIGHT[exercise][label]))
    assert capsys.readouterr().out.startswith("\u2713")


@pytest.mark.parametrize("exercise,label", PROXY_WRONG, ids=[f"{e}:{lbl}" for e, lbl in PROXY_WRONG])
def test_mutation_and_rng_mistakes_fail_through_a_copying_proxy(exercise, label):
    with pytest.raises(AssertionError):
        _check(exercise)(_CopyingProxy(WRONG[exercise][label]))
