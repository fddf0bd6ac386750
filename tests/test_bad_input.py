"""Bad input to public functions: a clear ValueError/TypeError naming the argument, never a crash, a hang or a NaN.

Every public function listed, every one of its listed arguments, and every bad value for it (None, a string, NaN,
inf, a negative or huge number, a bool or 3.5 for an int, empty or wrongly shaped arrays, a dict); the other
arguments keep small valid values. What may happen: a ``ValueError``/``TypeError`` whose message names the
argument, or a result that is finite (the value was acceptable after all, e.g. a list for an array). Anything else
fails: another exception type, an error naming a different argument, a non-finite result, or a call running past a
time limit.
"""
from __future__ import annotations

import signal
from contextlib import contextmanager

import numpy as np
import pytest

from collapse_lab import bundle, course, data, em, gaussian, gmm, lm, loop, metrics, mitigation, runtime, tails, vae, validate

BAD_VALUES = [None, "x", float("nan"), float("inf"), -float("inf"), -1, 0, -2.5, 10**12, -10**12, True, 3.5, [],
              np.array([]), np.zeros((2, 3, 4)), [1.0, float("nan")], {"a": 1}, (1, 2, 3)]

RNG = object()  # placeholder: replaced by a fresh Generator for each call


def _family():
    return gaussian.family()


# (function, valid keyword arguments, arguments to corrupt). Sizes are small so that any accepted value runs fast.
CASES = [
    (metrics.w2_gaussian, dict(mean1=0.0, var1=1.0, mean2=1.0, var2=2.0), ("mean1", "var1", "mean2", "var2")),
    (metrics.frechet, dict(mean1=np.zeros(2), cov1=np.eye(2), mean2=np.ones(2), cov2=2 * np.eye(2)),
     ("mean1", "cov1", "mean2", "cov2")),
    (metrics.frechet_from_features, dict(a=np.arange(12.0).reshape(6, 2), b=np.arange(12.0).reshape(6, 2) ** 0.5),
     ("a", "b")),
    (metrics.entropy, dict(p=[0.2, 0.3, 0.5], base=2.0), ("p", "base")),
    (metrics.label_entropy, dict(labels=np.array([0, 1, 1, 2]), n_classes=3), ("n_classes",)),
    (metrics.tail_mass, dict(samples=np.linspace(-3, 3, 50), lo=-2.0, hi=2.0), ("samples", "lo", "hi")),
    (metrics.perplexity, dict(token_losses=np.array([[1.0, 2.0], [0.5, 0.1]])), ("token_losses",)),
    (metrics.distinct_n, dict(sequences=[[1, 2, 3], [2, 3, 4]], n=2), ("n",)),
    (validate.integer, dict(name="k", value=3, lo=0, hi=10), ("value",)),
    (validate.number, dict(name="q", value=0.5, lo=0, hi=1), ("value",)),
    (runtime.seed_all, dict(seed=3), ("seed",)),
    (runtime.as_rng, dict(rng=3), ("rng",)),
    (runtime.device, dict(prefer="cpu"), ("prefer",)),
    (loop.run, dict(family=_family(), real=np.random.default_rng(0).normal(size=20), generations=3, seed=0),
     ("real", "generations", "n", "seed", "keep", "policy", "metrics", "callback", "start", "gen0")),
    (loop.policy, dict(name="mix", fraction=0.2), ("name", "fraction")),
    (gaussian.c_factor, dict(M=10), ("M",)),
    (gaussian.expected_var, dict(n=5, M=10), ("n", "M", "s2")),
    (gaussian.fast_chains, dict(M=10, generations=5, chains=4, seed=0), ("M", "generations", "chains", "seed")),
    (tails.zipf, dict(K=10, a=1.0), ("K", "a")),
    (tails.expected_lost, dict(p=tails.zipf(10, 1.0), M=20), ("p", "M")),
    (tails.survival, dict(p=tails.zipf(10, 1.0), M=20, generations=3, chains=5, seed=0),
     ("p", "M", "generations", "chains")),
    (tails.lost_once_each, dict(p=tails.zipf(10, 1.0), sizes=[20, 5], trials=3, seeds=[0, 1]),
     ("p", "sizes", "trials", "seeds")),
    (mitigation.linreg_formula, dict(n=5, d=3, T=10, s=1.0), ("n", "d", "T", "s")),
    (mitigation.linreg_bound, dict(d=3, T=10, s=1.0), ("d", "T", "s")),
    (mitigation.gaussian_chain, dict(M=10, generations=3, chains=4, k=1), ("M", "generations", "chains", "k")),
    (mitigation.categorical_chain, dict(p_true=tails.zipf(5), M=10, generations=3, chains=4),
     ("p_true", "M", "generations", "chains", "k", "alpha")),
    (gmm.mixture, dict(weights=[0.5, 0.5], means=[[0.0, 0.0], [3.0, 0.0]], covs=[np.eye(2), np.eye(2)]),
     ("weights", "means", "covs")),
    (gmm.sample, dict(mix=gmm.PAPER, n=10, rng=0), ("mix", "n", "rng")),
    (gmm.density, dict(mix=gmm.PAPER, x=np.zeros((3, 2))), ("mix", "x")),
    (gmm.l2, dict(p=gmm.PAPER, q=gmm.TEACHING), ("p", "q")),
    (gmm.fit, dict(data=gmm.sample(gmm.PAPER, 40, 0), k=2, rng=0), ("data", "k", "n_init", "init", "rng")),
    (gmm.weight_sd, dict(w=0.1, n=100, g=5), ("w", "n", "g")),
    (gmm.heldout_loglik, dict(model=gmm.PAPER, x=np.zeros((3, 2))), ("model", "x")),
    (gmm.tail_fraction, dict(model=gmm.PAPER, x=np.zeros((3, 2)), tau=0.01), ("model", "x", "tau")),
    (gmm.lost_generation, dict(mass=np.array([0.1, 0.05, 0.001]), original=0.1), ("mass", "original", "below")),
    (tails.draw, dict(distribution="gaussian", size=5, rng=0), ("distribution", "size", "rng")),
    (tails.cdf, dict(distribution="student-t", x=np.linspace(-2, 2, 5)), ("distribution", "x")),
    (tails.pdf, dict(distribution="uniform", x=np.linspace(-2, 2, 5)), ("distribution", "x")),
    (tails.tail_bounds, dict(distribution="mixture", q=0.01), ("distribution", "q")),
    (tails.fit_kde, dict(x=np.linspace(-1, 1, 10)), ("x",)),
    (tails.tv, dict(p=tails.zipf(4), q=tails.zipf(4, 2.0)), ("p", "q")),
    (gaussian.step, dict(mean=np.zeros(3), var=np.ones(3), M=10, rng=0), ("mean", "var", "M", "rng", "ddof")),
    (gaussian.median_var, dict(n=5, M=10), ("n", "M", "s2")),
    (mitigation.linreg_simulate, dict(policy="replace", d=3, T=10, n=3, reps=2),
     ("policy", "d", "T", "s", "n", "reps")),
    (mitigation.minimal_fraction, dict(sweep={"fractions": [0.1, 0.5], "distance": [0.3, 0.1]}, tol=0.2),
     ("sweep", "tol")),
    (mitigation.word_chain, dict(ids=np.arange(50) % 7, M=20, generations=3), ("ids", "M", "generations", "seed")),
    (vae.spread, dict(mu=np.arange(12.0).reshape(4, 3)), ("mu",)),
    (vae.class_entropy, dict(labels=np.array([0, 1, 2, 2]), n_classes=10), ("labels", "n_classes")),
    (lm.blocks, dict(ids=np.arange(20), size=4), ("ids", "size")),
]

IDS = [f"{f.__module__.split('.')[-1]}.{f.__name__}" for f, _, _ in CASES]


@contextmanager
def time_limit(seconds: int):
    def fail(*_):
        raise TimeoutError(f"call ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _finite(x) -> bool:
    """True when every number inside ``x`` is finite (objects that hold no numbers count as finite)."""
    if isinstance(x, (bool, str, type(None))):
        return True
    if isinstance(x, (int, float, np.number)):
        return bool(np.isfinite(x))
    if isinstance(x, np.ndarray):
        return not np.issubdtype(x.dtype, np.floating) or bool(np.all(np.isfinite(x)))
    if isinstance(x, (list, tuple)):
        return all(_finite(v) for v in x)
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    if isinstance(x, loop.History):
        return all(_finite(v) for r in x.rows for v in r.values())
    return True


# where a message rightly names the argument by what it means rather than by its parameter name
ALIASES = {(loop.policy, "name"): "policy", (gmm.sample, "mix"): "mix", (gmm.l2, "p"): "p"}


def check_call(fn, kwargs: dict, arg: str, bad) -> None:
    kw = dict(kwargs)
    kw[arg] = bad
    try:
        with time_limit(20):
            out = fn(**kw)
    except (ValueError, TypeError) as e:
        msg = str(e)
        assert arg in msg or ALIASES.get((fn, arg), arg) in msg or (fn is validate.integer or fn is validate.number), (
            f"{fn.__name__}({arg}={bad!r}) raised {type(e).__name__} without naming {arg!r}: {msg}")
        assert len(msg) > 15, f"{fn.__name__}({arg}={bad!r}): message too terse: {msg!r}"
        return
    assert _finite(out), f"{fn.__name__}({arg}={bad!r}) accepted a bad value and returned non-finite {out!r}"


# every argument of every case against every bad value (a finite list: all of it, not a sample of it)
ARG_CASES = [(i, arg) for i, (_, _, args) in enumerate(CASES) for arg in args]


@pytest.mark.parametrize("case, arg", ARG_CASES, ids=[f"{IDS[i]}-{arg}" for i, arg in ARG_CASES])
def test_bad_argument_gets_a_clear_error(case, arg):
    fn, kwargs, _ = CASES[case]
    wrong = []
    for bad in BAD_VALUES:
        try:
            check_call(fn, kwargs, arg, bad)
        except AssertionError as e:  # try every value, then list all that were handled badly
            wrong.append(f"{bad!r}: {str(e).splitlines()[0]}")
    assert not wrong, f"{fn.__name__}({arg}=...):\n" + "\n".join(wrong)


@pytest.mark.parametrize("case", range(len(CASES)), ids=IDS)
def test_valid_baseline_runs(case):
    fn, kwargs, _ = CASES[case]
    assert _finite(fn(**kwargs))


def test_nan_in_real_data_stops_the_chain_at_the_door():
    real = np.r_[np.random.default_rng(0).normal(size=19), np.nan]
    with pytest.raises(ValueError, match="real holds 1 NaN/inf"):
        loop.run(gaussian.family(), real, 2)


def test_non_finite_samples_stop_the_chain_with_the_generation():
    fam = loop.Family(fit=lambda x, rng: float(np.mean(x)), sample=lambda m, n, rng: np.full(n, np.inf))
    with pytest.raises(ValueError, match="generation 0's model wrote non-finite samples"):
        loop.run(fam, np.ones(5), 3)


def test_huge_counts_fail_at_once():
    with time_limit(5):
        for f in (lambda: loop.run(gaussian.family(), np.ones(5), 10**12),
                  lambda: gaussian.fast_chains(10, 10**12, 4),
                  lambda: tails.survival(tails.zipf(5), 10, 10**12, 3)):
            with pytest.raises(ValueError, match=r"<= 10{6,7}\b"):
                f()


def test_frechet_refuses_a_covariance_that_is_not_psd():
    with pytest.raises(ValueError, match="cov1 must be positive semi-definite"):
        metrics.frechet([0, 0], [[1, 2], [2, 1]], [0, 0], np.eye(2))


def test_perplexity_refuses_negative_losses():
    with pytest.raises(ValueError, match="token_losses must be >= 0"):
        metrics.perplexity([-5.5, -5.5])


def test_memory_budget_refuses_with_what_it_would_need(monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_MEMORY_BUDGET", "1")
    with pytest.raises(ValueError, match=r"would need about 2 GiB, above the memory budget of 1 GiB"):
        validate.fits_memory("the chains", 2 * 2**30)
    validate.fits_memory("the chains", 2**20)
    monkeypatch.setenv("COLLAPSE_LAB_MEMORY_BUDGET", "lots")
    with pytest.raises(ValueError, match="COLLAPSE_LAB_MEMORY_BUDGET"):
        validate.memory_budget()


def test_language_model_functions_check_the_model_and_the_token_ids():
    from transformers import OPTForCausalLM

    model = OPTForCausalLM(lm.config(dict(layers=1, width=16, heads=2, vocab=300))).eval()
    ok = np.arange(40).reshape(4, 10)
    for f in (lambda m, x: lm.perplexity(m, x), lambda m, x: lm.generate(m, x, new=2, beams=1),
              lambda m, x: lm.train(m, x, epochs=1, batch=2, lr=1e-3)):
        with pytest.raises(TypeError, match="model must be a causal language model"):
            f(None, ok)
        with pytest.raises(ValueError, match=r"token ids in \[0, 300\)"):
            f(model, ok + 1000)
    with pytest.raises(ValueError, match="vocab must be an int >= 260 and <= 1000000"):
        lm.train_tokenizer("some text " * 10, 10**12)


@pytest.mark.parametrize("args", [
    ["build-exercises", "--exercises", "{file}"],
    ["course", "--out", "{file}", "--only", "00"],
    ["run", "lm", "--out", "{file}", "--profile", "quick"],
    ["check", "{file}", "--csv", "{dir}"],
    ["check", "{file}", "--timeout", "0"],
])
def test_cli_refuses_bad_paths_in_one_line_before_any_work(args, tmp_path, capsys):
    from collapse_lab.cli import main

    f = tmp_path / "a-file.ipynb"
    f.write_text("{}")
    argv = [x.format(file=f, dir=tmp_path) for x in args]
    with time_limit(30):
        assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"collapse-lab {args[0]}: error:") and "\n" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("call, name", [
    (lambda: loop.take(np.arange(5.0), None), "idx"),
    (lambda: loop.take(np.arange(5.0), [0, 7]), "idx"),
    (lambda: loop.take([], [0]), "idx"),
    (lambda: loop.concat(None), "parts"),
    (lambda: loop.concat([np.ones(2), "x"]), "parts[1]"),
    (lambda: loop.policy("mix").build(np.arange(10.0), None, np.random.default_rng(0)), "synthetic_sets"),
    (lambda: loop.policy("mix").build(None, [np.ones(9)], np.random.default_rng(0)), "real"),
    (lambda: loop.policy("anchor").build(np.arange(10.0), [np.ones(9)], None), "rng"),
    (lambda: loop.policy("replace").n_synthetic(-1), "n_real"),
    (lambda: data.read_text(None), "path"),
    (lambda: data.download_dir(""), "name"),
    (lambda: gaussian.fast_chains(10, 2, 3).w2(mu=None), "mu"),
    (lambda: course.describe(None), "nb"),
    (lambda: course.mathjax_url(-1), "depth"),
    (lambda: course.failed(None), "rows"),
    (lambda: bundle.student_readme(None), "root"),
])
def test_entry_points_name_the_bad_argument(call, name):
    with pytest.raises((TypeError, ValueError)) as e:
        call()
    assert name in str(e.value), str(e.value)


@pytest.mark.parametrize("call, name", [
    (lambda: gmm.experiments(None, generations=2, n=20), "seeds"),
    (lambda: gmm.experiments(10**12, generations=2, n=20), "seeds"),
    (lambda: gmm.experiment(generations=2, n=20, init=np.array([])), "init"),
    (lambda: gmm.experiment(generations=2, n=20, keep="abc"), "keep"),
    (lambda: gmm.experiment(generations=2, n=20, full=None), "full"),
    (lambda: gmm.data(n=20, n_test=20, ref=None), "ref"),
    (lambda: gmm.lockstep(None, 2, seeds=[0, 1]), "reals"),
    (lambda: gmm.lockstep([np.zeros((5, 2))], 2, seeds=[0], callback="abc"), "callback"),
    (lambda: gmm.count_first(None), "rows"),
    (lambda: gmm.sweep(ns=float("nan"), seeds=1, generations=2), "ns"),
    (lambda: gmm.extent(pad=None), "pad"),
    (lambda: gmm.plot_density(gmm.PAPER, ax="abc"), "ax"),
    (lambda: gmm.trend("abc", [1.0, 0.5]), "ns"),
    (lambda: em.fit("abc", 2), "x"),
    (lambda: em.fit(np.random.default_rng(0).normal(size=(30, 2)), 2, -1), "random_state"),
    (lambda: em.fit(np.random.default_rng(0).normal(size=(30, 2)), 2, 0, start="abc"), "start"),
])
def test_mixture_entry_points_name_the_bad_argument(call, name):
    with pytest.raises((TypeError, ValueError)) as e:
        call()
    assert name in str(e.value), str(e.value)


@pytest.mark.parametrize("call, name", [
    (lambda: loop.History(rows=float("nan")), "rows"),
    (lambda: loop.History(meta="abc"), "meta"),
    (lambda: loop.History([{"generation": 0, "x": 1.0}]).table(cols=float("nan")), "cols"),
    (lambda: loop.History([{"generation": 0, "x": 1.0}]).table(digits=None), "digits"),
    (lambda: loop.History([{"generation": 0, "x": 1.0}]).last(None), "col"),
    (lambda: mitigation.format_table(None), "rows"),
    (lambda: mitigation.format_table([{"a": 1.0}], digits=None), "digits"),
    (lambda: mitigation.first_alert(None, "tail_alert"), "history"),
    (lambda: mitigation.policy_table(["gaussian"], seeds=10**12, generations=2), "seeds"),
    (lambda: mitigation.fraction_sweep("gaussian", [0.0, 0.5], seeds=10**12, generations=2), "seeds"),
    (lambda: mitigation.fraction_sweep("gaussian", float("nan"), seeds=1, generations=2), "fractions"),
    (lambda: mitigation.Filtered(lambda d: np.ones(len(d), bool)).build(np.zeros((2, 1)), None, None),
     "synthetic_sets"),
])
def test_tables_and_policies_name_the_bad_argument(call, name):
    with pytest.raises((TypeError, ValueError, KeyError)) as e:
        call()
    assert name in str(e.value), str(e.value)


@pytest.mark.parametrize("call, name", [
    (lambda: lm.plot_chains(None), "histories"),
    (lambda: lm.plot_seq_ppl(None), "history"),
    (lambda: lm.side_by_side(None, np.zeros((1, 4), int)), "tok"),
    (lambda: lm.chain(generations=0, epochs=1, callback="abc", parts=(None, None, None)), "callback"),
    (lambda: tails.tail_table(n=[1, 2], M=20, chains=3, cases=None), "cases"),
    (lambda: tails.tail_table(n=[1, 2], M=20, chains=3, cases=[("gaussian", "histogram")]), "model"),
    (lambda: runtime.blocks(None, 2, np.random.default_rng(0)), "n"),
    (lambda: runtime.blocks(5, 0, np.random.default_rng(0)), "size"),
    (lambda: tails.model_pdf(tails.fit_gaussian(np.arange(20.0)), None), "x"),
    (lambda: loop.History([{"generation": 0}]).to_csv(True), "path"),
])
def test_more_entry_points_name_the_bad_argument(call, name):
    with pytest.raises((TypeError, ValueError)) as e:
        call()
    assert name in str(e.value), str(e.value)
