"""Bad input to the package's helpers and plumbing: a ValueError/TypeError at the door that names the argument.

One case per (function, argument): the call, the exception type expected and the argument's name, which the message
must contain. Valid calls next to them keep their behaviour. Cheap calls only (no training, no data files).
"""
from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest
import torch

from collapse_lab import cells, course, data, exercises, gaussian, gmm, lm, loop, metrics, mitigation, plots, runtime, \
    tails, vae, validate, widgets
from collapse_lab.checks import core
from collapse_lab.validate import ArgumentError

ARR = np.zeros((2, 3, 4))
ROOT = str(__import__("pathlib").Path(__file__).resolve().parent.parent)  # the course folder (has notebooks/)
NAN = float("nan")


def _nb():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),
                nbformat.v4.new_code_cell("checks.ch1.f(f)")]
    return nb


def _history():
    return loop.History([{"generation": 0, "x": 1.0}, {"generation": 1, "x": 0.5}])


_VAE = vae.VAE(8, (2, 2), 2)
_MODEL = tails.tail_chains("gaussian", "gaussian", 10, 1, 2, seed=0)[1]

CASES = [
    # checks.core: the pieces every chapter's checks are built from
    ("letters want", lambda: core.letters("AB", None, "ABC", "item", "AB"), ArgumentError, "want"),
    ("letters want not in allowed", lambda: core.letters("AB", "AZ", "ABC", "item", "AB"), ArgumentError, "want"),
    ("letters allowed", lambda: core.letters("AB", "AB", [1, 2], "item", "AB"), ArgumentError, "allowed"),
    ("show limit", lambda: core.show(1.5, limit=ARR), ArgumentError, "limit"),
    ("show limit float", lambda: core.show(1.5, limit=3.5), ArgumentError, "limit"),
    ("Hints chapter", lambda: core.Hints([], {}), ArgumentError, "chapter"),
    ("Hints general", lambda: core.Hints("chX", [1, 2, 3]), ArgumentError, "general"),
    ("Hints.text exercise", lambda: core.Hints("chX", {"a": "b"}).text([1]), ArgumentError, "exercise"),
    ("exercise chapter", lambda: core.exercise(None), ArgumentError, "chapter"),
    ("expect ok array", lambda: core.expect(np.array([1.0, NAN]), "w", 1, 1, "h"), ArgumentError, "ok"),
    ("expect ok str", lambda: core.expect("abc", "w", 1, 1, "h"), ArgumentError, "ok"),
    ("expect diff", lambda: core.expect(True, "w", 1, 1, "h", diff=None), ArgumentError, "diff"),
    ("call name", lambda: core.call(abs, 1, name=ARR), ArgumentError, "name"),
    ("call_with_grads args", lambda: core.call_with_grads(lambda t: t.sum(), None), ArgumentError, "args"),
    ("call_with_grads wrt", lambda: core.call_with_grads(lambda t: t.sum(), torch.ones(2), wrt=[1, 2, 3]),
     ArgumentError, "wrt"),
    ("call_with_grads wrt None", lambda: core.call_with_grads(lambda t: t.sum(), torch.ones(2), wrt=None),
     ArgumentError, "wrt"),
    ("close rtol", lambda: core.close(1.0, 1.0, rtol=NAN), ArgumentError, "rtol"),
    ("close atol", lambda: core.close(1.0, 1.0, atol=-1), ArgumentError, "atol"),
    ("unchanged before", lambda: core.unchanged(None, {"x": np.ones(2)}, "f"), ArgumentError, "before"),
    ("unchanged after", lambda: core.unchanged({"x": np.ones(2)}, [1, 2, 3], "f"), ArgumentError, "after"),
    ("unchanged after keys", lambda: core.unchanged({"x": np.ones(2)}, {"y": np.ones(2)}, "f"), ArgumentError,
     "after"),
    ("rng_contract results", lambda: core.rng_contract([1, 2, 3], "f", lambda a, b: a == b), ArgumentError,
     "results"),
    ("rng_contract equal", lambda: core.rng_contract([(1, False)] * 3, "f", "abc"), ArgumentError, "equal"),
    ("render value", lambda: core.render(None), ArgumentError, "value"),
    # validate: its own bounds and options
    ("integer lo", lambda: validate.integer("k", 3, lo="abc"), ArgumentError, "lo"),
    ("integer hi", lambda: validate.integer("k", 3, hi=3.5), ArgumentError, "hi"),
    ("count lo", lambda: validate.count("n", 3, lo="abc"), ArgumentError, "lo"),
    ("count hi", lambda: validate.count("n", 3, hi=ARR), ArgumentError, "hi"),
    ("number lo", lambda: validate.number("s", 1.5, lo="abc"), ArgumentError, "lo"),
    ("number hi nan", lambda: validate.number("s", 1.5, hi=NAN), ArgumentError, "hi"),
    ("number lo_open", lambda: validate.number("s", 1.5, lo=0, lo_open=ARR), ArgumentError, "lo_open"),
    ("number hi_open", lambda: validate.number("s", 1.5, hi=2, hi_open=None), ArgumentError, "hi_open"),
    ("array ndim", lambda: validate.array("x", [1.0], ndim="abc"), ArgumentError, "ndim"),
    ("array min_size", lambda: validate.array("x", [1.0], min_size=None), ArgumentError, "min_size"),
    ("array dtype", lambda: validate.array("x", [1.0], dtype="abc"), ArgumentError, "dtype"),
    ("array finite", lambda: validate.array("x", [1.0], finite=ARR), ArgumentError, "finite"),
    ("array value bool", lambda: validate.array("x", True), ArgumentError, "x"),
    ("path kind", lambda: validate.path("out", "/tmp", kind="abc"), ArgumentError, "kind"),
    ("path kind array", lambda: validate.path("out", "/tmp", kind=ARR), ArgumentError, "kind"),
    ("path must_exist", lambda: validate.path("out", "/tmp", must_exist=ARR), ArgumentError, "must_exist"),
    ("seeds hi", lambda: validate.seeds("seeds", 3, hi="abc"), ArgumentError, "hi"),
    ("fits_memory what", lambda: validate.fits_memory(None, 10.0), ArgumentError, "what"),
    ("fits_memory n_bytes", lambda: validate.fits_memory("x", ARR), ArgumentError, "n_bytes"),
    # exercises
    ("build solutions_dir", lambda: exercises.build(None, "ex"), ArgumentError, "solutions_dir"),
    ("build exercises_dir", lambda: exercises.build("solutions", 3.5), ArgumentError, "exercises_dir"),
    ("build check", lambda: exercises.build("solutions", "ex", check=ARR), ArgumentError, "check"),
    ("add_nbgrader_metadata nb", lambda: exercises.add_nbgrader_metadata(None, {0}), ArgumentError, "nb"),
    ("add_nbgrader_metadata answers", lambda: exercises.add_nbgrader_metadata(_nb(), [1, 2, 3]), ArgumentError,
     "answers"),
    ("exercise_notebook solution", lambda: exercises.exercise_notebook([1, 2, 3]), ArgumentError, "solution"),
    ("nbgrader_source solution", lambda: exercises.nbgrader_source("abc"), ArgumentError, "solution"),
    ("check_cells nb", lambda: cells.check_cells(ARR), ArgumentError, "nb"),
    # runtime
    ("in_threads fn", lambda: runtime.in_threads(None, [1, 2]), ArgumentError, "fn"),
    ("in_threads iterables", lambda: runtime.in_threads(abs, 3.5), ArgumentError, "iterables"),
    ("in_threads iterables str", lambda: runtime.in_threads(abs, "abc"), ArgumentError, "iterables"),
    ("device prefer", lambda: runtime.device("cuda:x"), ArgumentError, "prefer"),
    # vae
    ("VAE.encode x", lambda: _VAE.encode(None), ArgumentError, "x"),
    ("VAE.encode x shape", lambda: _VAE.encode(torch.zeros(2, 4, 4)), ArgumentError, "x"),
    ("VAE.decode z", lambda: _VAE.decode(torch.zeros(2, 5)), ArgumentError, "z"),
    ("VAE.forward x", lambda: _VAE(np.zeros((2, 8, 8))), ArgumentError, "x"),
    ("latent_spread encoder", lambda: vae.latent_spread(None, np.zeros((2, 8, 8))), TypeError, "encoder"),
    ("train lr inf", lambda: vae.train(np.zeros((4, 8, 8)), lr=float("inf")), ArgumentError, "lr"),
    ("train lr huge", lambda: vae.train(np.zeros((4, 8, 8)), lr=1e12), ArgumentError, "lr"),
    ("train weight_decay", lambda: vae.train(np.zeros((4, 8, 8)), weight_decay=float("inf")), ArgumentError,
     "weight_decay"),
    ("train n_threads", lambda: vae.train(np.zeros((4, 8, 8)), n_threads=True), ArgumentError, "n_threads"),
    ("train device", lambda: vae.train(np.zeros((4, 8, 8)), device="abc"), ArgumentError, "device"),
    ("threads n", lambda: vae.threads(3.5), ArgumentError, "n"),
    ("family device", lambda: vae.family(profile="quick", device=3), ArgumentError, "device"),
    ("family lr", lambda: vae.family(profile="quick", lr=NAN), ArgumentError, "lr"),
    ("sample bernoulli", lambda: vae.sample(_VAE, 2, 0, bernoulli=ARR), TypeError, "bernoulli"),
    # lm (no model needed: the checks come first)
    ("diversity x", lambda: lm.diversity([1, 2, 3]), ValueError, "x"),
    ("repeat_share x", lambda: lm.repeat_share(None), TypeError, "x"),
    ("paper_text split", lambda: lm.paper_text(ARR), ValueError, "split"),
    ("spread x", lambda: lm.spread(np.array([]), 2), ValueError, "x"),
    ("print_side_by_side rows", lambda: lm.print_side_by_side([1, 2, 3]), TypeError, "rows"),
    ("family base", lambda: lm.family(None, np.zeros((2, 8), dtype=int), epochs=1, batch=2, lr=1e-3), TypeError,
     "base"),
    ("chain shared", lambda: lm.chain("a", profile="quick", shared=[]), TypeError, "shared"),
    ("experiment shared", lambda: lm.experiment("replace", profile="quick", shared=3), TypeError, "shared"),
    ("vae experiment shared", lambda: vae.experiment("replace", profile="quick", shared=[]), TypeError, "shared"),
    # loop, plots
    ("policy name", lambda: loop.policy(3), TypeError, "name"),
    ("run gen0", lambda: loop.run(gaussian.family(), np.ones(5), 1, gen0=[]), TypeError, "gen0"),
    ("run gen0 keys", lambda: loop.run(gaussian.family(), np.ones(5), 1, gen0={"a": 1}), ValueError, "gen0"),
    ("History.last col", lambda: _history().last("abc"), ArgumentError, "col"),
    ("History.last col None", lambda: _history().last(None), ArgumentError, "col"),
    ("size name", lambda: loop.size([1, 2], name=3), ArgumentError, "name"),
    ("Anchor k", lambda: loop.Anchor(10**12), ValueError, "k"),
    ("Replace.build shapes", lambda: loop.Replace().build(np.zeros((3, 2)), [np.zeros((3, 4))],
                                                          np.random.default_rng(0)), ArgumentError, "synthetic_sets"),
    ("over_generations columns", lambda: plots.over_generations(_history(), "abc"), ValueError, "columns"),
    ("save fig", lambda: plots.save(None, "x", "A line."), TypeError, "fig"),
    ("over_generations history", lambda: plots.over_generations([1, 2, 3], "x"), ValueError, "history"),
    # tails, gaussian, gmm, metrics
    ("model_tail_mass lo", lambda: tails.model_tail_mass(_MODEL, None, 1.0), ArgumentError, "lo"),
    ("model_tail_mass hi", lambda: tails.model_tail_mass(_MODEL, -1.0, ARR), ArgumentError, "hi"),
    ("tail_chains model", lambda: tails.tail_chains("gaussian", ARR, 10, 1, 2), ValueError, "model"),
    ("tail_chains at", lambda: tails.tail_chains("gaussian", "gaussian", 10, 1, 2, at=NAN), ArgumentError, "at"),
    ("model_pdf x", lambda: tails.model_pdf(_MODEL, ARR), ArgumentError, "x"),
    ("pdf x bool", lambda: tails.pdf("gaussian", True), ArgumentError, "x"),
    ("direct_chains per_chain", lambda: gaussian.direct_chains(10, 2, 3, per_chain="abc"), TypeError,
     "per_chain"),
    ("l2 squared", lambda: gmm.l2(gmm.TEACHING, gmm.TEACHING, squared=ARR), ArgumentError, "squared"),
    ("gmm.family init", lambda: gmm.family(init=ARR), ValueError, "init"),
    ("gmm.fit start", lambda: gmm.fit(np.random.default_rng(0).normal(size=(30, 2)), 2, 0, start=3.5), ValueError,
     "start"),
    ("mode_masses weights", lambda: gmm.mode_masses("abc", np.zeros((1, 3, 2)), np.zeros((1, 3, 2, 2))),
     ArgumentError, "weights"),
    ("lost_generation original", lambda: gmm.lost_generation([0.1, 0.2], float("inf")), ArgumentError,
     "original"),
    ("gmm.metrics tau", lambda: gmm.metrics(gmm.TEACHING, gmm.sample(gmm.TEACHING, 10, 0), tau=-1), ArgumentError,
     "tau"),
    ("entropy p", lambda: metrics.entropy(10**12), ValueError, "p"),
    ("tail_mass samples", lambda: metrics.tail_mass(3.5, -1.0, 1.0), ValueError, "samples"),
    ("distinct_n sequences", lambda: metrics.distinct_n([1, 2, 3], 2), ArgumentError, "sequences"),
    ("ngrams tokens", lambda: list(metrics.ngrams(ARR, 2)), TypeError, "tokens"),
    ("perplexity bool", lambda: metrics.perplexity(True), ArgumentError, "token_losses"),
    # mitigation
    ("make_policy spec", lambda: mitigation.make_policy(3.5), ArgumentError, "spec"),
    ("available_families names", lambda: mitigation.available_families(None), ArgumentError, "names"),
    ("policy_table families", lambda: mitigation.policy_table(families=3), ArgumentError, "families"),
    ("Monitor kind", lambda: mitigation.Monitor(np.zeros(5), kind=ARR), ValueError, "kind"),
    ("Monitor reference", lambda: mitigation.Monitor("abc"), ArgumentError, "reference"),
    ("Monitor.stats data", lambda: mitigation.Monitor(np.arange(50.0)).stats(-1), ValueError, "data"),
    ("Monitor.report samples", lambda: mitigation.Monitor(np.arange(50.0)).report(None), ValueError,
     "samples_by_generation"),
    ("Monitor.report item", lambda: mitigation.Monitor(np.arange(50.0)).report([1, 2, 3]), ArgumentError,
     "samples_by_generation"),
    ("Verifier center", lambda: mitigation.Verifier("abc"), ArgumentError, "center"),
    ("linreg_error w_star", lambda: mitigation.linreg_error("abc"), ArgumentError, "w_star"),
    ("categorical_chain p0", lambda: mitigation.categorical_chain([0.5, 0.5], 10, 1, 1, p0="abc"), ArgumentError,
     "p0"),
    # data, course, widgets
    ("find files", lambda: data.find("mnist", None), TypeError, "files"),
    ("mnist split", lambda: data.mnist([1, 2, 3]), ValueError, "split"),
    ("wikitext split", lambda: data.wikitext(ARR), ValueError, "split"),
    ("read_text path", lambda: data.read_text("no-such-file.txt"), ValueError, "path"),
    ("lab_command extra", lambda: course.lab_command(ROOT, extra=None), ArgumentError, "extra"),
    ("options name", lambda: widgets.options(None, [1, 2]), TypeError, "name"),
    ("options values", lambda: widgets.options("M", [1.0, NAN]), ValueError, "values"),
    ("explore controls", lambda: widgets.explore(lambda M: None, M=None), ValueError, "controls"),
    ("format_table columns", lambda: mitigation.format_table([{"a": 1}], columns=[1, 2, 3]), TypeError,
     "columns"),
]


@pytest.mark.parametrize("call, exc, arg", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument_is_named(call, exc, arg):
    with pytest.raises(exc) as info:
        call()
    assert isinstance(info.value, (TypeError, ValueError))
    assert re.search(rf"(?<![A-Za-z0-9_]){re.escape(arg)}(?![A-Za-z0-9_])", str(info.value)), str(info.value)


@pytest.mark.parametrize("fn, kw, arg", [(lm.train, {"seed": 3.5}, "seed"), (lm.generate, {"seed": NAN}, "seed"),
                                         (lm.generate, {"seed": 2**60}, "seed")])
def test_language_model_seeds_are_checked_at_the_door(fn, kw, arg):
    class Tiny(torch.nn.Module):
        config = type("C", (), {"vocab_size": 16, "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 1})()

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(2, 2)

    x = np.ones((2, 4), dtype=int)
    extra = {"epochs": 1, "batch": 2, "lr": 1e-3} if fn is lm.train else {}
    with pytest.raises(ArgumentError, match=arg):
        fn(Tiny(), x, **extra, **kw)


def test_checks_take_their_documented_first_argument_by_keyword():
    import inspect

    from collapse_lab.checks import ch5

    assert list(inspect.signature(ch5.window_policy).parameters) == ["cls"]
    with pytest.raises(core.CheckFailed):
        ch5.window_policy(cls=3)  # reaches the check (and fails it), not "missing 1 required positional argument"
    with pytest.raises(TypeError, match="fn"):
        ch5.window_policy(fn=3)  # the former keyword is gone: a plain Python error names it


def test_valid_calls_keep_their_results():
    assert core.show(1.5) == "1.5" and core.close([1.0], [1.0 + 1e-12])
    assert validate.number("s", 0.5, 0, 1, lo_open=True, hi_open=np.bool_(True)) == 0.5
    assert validate.array("x", [1, 2], ndim=(1, 2), min_size=0, dtype=None).dtype.kind == "i"
    assert runtime.in_threads(lambda a, b: a + b, [1, 2], (3, 4)) == [4, 6]
    assert runtime.device("cuda:1") == "cuda:1"
    mu, logvar = _VAE.encode(torch.zeros(3, 8, 8))
    assert mu.shape == (3, 2) and _VAE.decode(mu).shape == (3, 8, 8)
    assert metrics.distinct_n([[1, 2, 3], np.array([1, 2])], 2) == (2, 2 / 3)
    assert mitigation.make_policy("mix").fraction == 0.1
    assert tails.model_tail_mass(_MODEL, -np.inf, 0.0).shape == (2,)
    nb = _nb()
    exercises.add_nbgrader_metadata(nb, [0])
    assert nb.cells[0].metadata["nbgrader"]["solution"] and cells.check_cells(dict(nb)) == [(1, "f")]
