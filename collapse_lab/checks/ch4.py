"""Checks of Chapter 4 (language-model collapse): each runs the learner's function on several inputs against a
reference computed here. Inputs must come back unchanged (the notebook reuses its blocks); the random function
draws only from the ``rng`` it is given."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from . import variants
from .core import (Hints, call, close, exercise, expect, last_call, letters, number, passed, rng_contract, show,
                   unchanged)
from ..runtime import silence_progress

hint = Hints("ch4", {
    "pack_blocks": "how many whole blocks fit in len(ids) tokens? Keep exactly that many blocks' worth of tokens "
                   "from the start, and give that 1-D prefix the 2-D shape (blocks, size); numpy keeps the dtype.",
    "perplexities": "np.exp of a mean: over all entries for the corpus, over axis=1 for the blocks (one number per "
                    "row, a numpy array). Return the two as a pair, corpus first.",
    "next_training_set": "the prompt length is prompts.shape[1]; numpy compares whole blocks of two "
                         "arrays at once (== then .all()); slicing outputs by columns gives both the "
                         "part to compare and the part to return.",
    "distinct_n": "tuples can go in a set (lists cannot), so a set of tuple(...) slices counts "
                  "distinct n-grams; a sequence of length L has L - n + 1 n-grams (none when L < n).",
    "mix_training_set": "round() gives the nearest whole number; a Generator can pick distinct "
                        "indices (see the replace argument of rng.choice); indexing real with an "
                        "index array makes a new array, so real stays as it was.",
    "which_decoder": "beam search keeps the most probable continuation, sampling draws from the model's "
                     "distribution: which leaves text the writing model finds most probable, and which keeps more "
                     "distinct words? Answer with your own letters (variant.chains, variant.statements).",
})


def _ids(rng, n, vocab=50):
    return rng.integers(0, vocab, size=n)


@exercise("ch4", refs=("lm.text.blocks",))
def pack_blocks(fn) -> None:
    """``fn(ids, size) -> (len(ids) // size, size)`` int array of consecutive blocks; the remainder dropped."""
    rng = np.random.default_rng(4)
    cases = [(130, 64), (128, 64), (63, 64), (17, 4), (1000, 7), (5, 1), (23, 5)]
    for j, (n, size) in enumerate(cases):
        ids0 = _ids(rng, n).astype((np.int64, np.int32, np.uint16)[j % 3])  # tokenizers give any integer dtype
        ids = ids0.copy()
        got = call(fn, ids, size, name="pack_blocks")
        unchanged({"ids": ids0}, {"ids": ids}, "pack_blocks")
        want = ids0[: (n // size) * size].reshape(n // size, size)
        label = f"pack_blocks(ids of length {n}, size={size})"
        expect(isinstance(got, np.ndarray), f"{label}: a numpy array", f"an int array of shape {want.shape}",
               show(got, 80), "the next cells use blocks.shape and index blocks[3]: return a 2-D numpy array, "
               "not a list of blocks")
        hint_ = "n // size full blocks of `size` tokens; the tokens left over (fewer than size) are dropped"
        if got.ndim == 2 and got.shape[1] != size:
            hint_ = "each row is one block of `size` tokens: use the size argument"
        elif got.ndim == 2 and got.shape[0] == -(-n // size):
            hint_ = "the last, partial block is dropped, not padded or kept"
        expect(got.shape == want.shape, f"{label}: shape", want.shape, got.shape, hint_)
        expect(np.array_equal(got, want), f"{label}: values", want, got,
               "row i holds the i-th run of `size` consecutive tokens, in the order of ids")
        expect(got.dtype == ids0.dtype, f"{label}: dtype", f"the input's dtype {ids0.dtype}", str(got.dtype),
               "token ids are integers: keep the input's integer dtype (no float conversion, no astype; the tokenizer "
               "decodes ints)")
    passed("pack_blocks: consecutive blocks of `size` tokens, the remainder dropped, the dtype kept, on 7 inputs")


@exercise("ch4", refs=("metrics.perplexity",))
def perplexities(fn) -> None:
    """``fn(losses) -> (corpus_ppl, per_block_ppl)`` from per-token losses (n_blocks, n_tokens) in nats."""
    rng = np.random.default_rng(44)
    for shape in [(1, 5), (3, 63), (10, 7), (2, 1), (4, 2)]:
        losses0 = rng.gamma(2.0, 2.0, size=shape)
        losses = losses0.copy()
        got = call(fn, losses, name="perplexities")
        unchanged({"losses": losses0}, {"losses": losses}, "perplexities")
        expect(isinstance(got, (tuple, list)) and len(got) == 2, "perplexities returns a pair",
               "(corpus_ppl, per_block_ppl)", show(got, 80), "return the two results together, corpus first: "
               "the notebook unpacks `corpus, per_block = perplexities(losses)`")
        corpus, per = got
        want_c, want_p = math.exp(losses0.mean()), np.exp(losses0.mean(axis=1))
        c = number(corpus)
        hint_ = "the exponential of the mean loss over every token of every block"
        if c is not None and close(c, np.exp(losses0.mean(axis=1)).mean()) and shape[0] > 1:
            hint_ = "that is the mean of the per-block perplexities; the corpus perplexity averages the losses first"
        elif c is not None and close(c, np.exp(min(losses0.sum(), 700.0))):
            hint_ = "the exponential of the mean loss, not of the sum"
        elif c is not None and close(c, 2 ** losses0.mean()):
            hint_ = "the losses are in nats: the base is e"
        elif isinstance(corpus, np.ndarray) and corpus.ndim == 1:
            hint_ = "the corpus perplexity comes first in the pair, then the per-block array"
        expect(c is not None and close(c, want_c, rtol=1e-6), f"corpus perplexity of losses {shape}", want_c,
               corpus, hint_)
        expect(isinstance(per, np.ndarray), f"per-block perplexities of losses {shape}: a numpy array",
               f"an array of shape ({shape[0]},)", show(per, 80), "the notebook rounds it and takes per_block.mean(): "
               "return a numpy array, not a list")
        hint_ = "one number per row (block): exp of that row's mean loss"
        if per.shape == (shape[1],) and shape[0] != shape[1]:
            hint_ = "one value per block (row, axis=1), not per token position (axis=0)"
        expect(close(per, want_p, rtol=1e-6), f"per-block perplexities of losses {shape}", want_p, per, hint_)
    passed("perplexities: exp(mean token loss) for the corpus and per block, on 5 inputs")


def _raised(e, kind) -> bool:
    """True when a failed call was the learner's function raising ``kind`` (chained here, named in the message)."""
    return isinstance(e.__cause__, kind) or f" raised {kind.__name__}:" in str(e).splitlines()[0]


@exercise("ch4", refs=("lm.generation.continuations",))
def next_training_set(fn) -> None:
    """``fn(prompts, outputs) -> continuations``: the new tokens after each prompt; ValueError on a mismatch."""
    from .core import CheckFailed

    rng = np.random.default_rng(404)
    for n, lp, new in [(4, 64, 64), (1, 3, 5), (7, 10, 2), (3, 5, 9)]:
        prompts = _ids(rng, (n, lp))
        cont = _ids(rng, (n, new))
        outputs = np.concatenate([prompts, cont], axis=1)
        pa, oa = prompts.copy(), outputs.copy()
        got = call(fn, pa, oa, name="next_training_set")
        unchanged({"prompts": prompts, "outputs": outputs}, {"prompts": pa, "outputs": oa}, "next_training_set")
        label = f"next_training_set(prompts {prompts.shape}, outputs {outputs.shape})"
        expect(isinstance(got, np.ndarray), f"{label}: a numpy array", f"an int array of shape {cont.shape}",
               show(got, 80), "return an array: the next generation trains on it and the notebook reads .shape")
        hint_ = "the continuations are the columns that come after the prompt, whatever the prompt's length"
        if got.ndim == 2 and got.shape[1] == new + 1:
            hint_ = "one column too many: the prompt's last token is not part of the continuation"
        elif got.ndim == 2 and got.shape[1] != new:
            hint_ = "the prompt length is prompts.shape[1] (not always 64): keep every column after it"
        expect(got.shape == cont.shape and np.array_equal(got, cont), label, cont, got, hint_)
        expect(got.dtype == outputs.dtype, f"{label}: dtype", f"the dtype of outputs ({outputs.dtype})",
               str(got.dtype), "token ids stay integers: take the columns of outputs as they are (the next cell "
               "decodes them with the tokenizer, which needs ints)")
    bad_cases = []
    for n, lp in [(3, 4), (5, 6), (4, 3)]:
        prompts = _ids(rng, (n, lp)) + 60 * np.arange(n)[:, None]  # rows differ everywhere
        outputs = np.concatenate([prompts, _ids(rng, (n, 4))], axis=1)
        bad_cases.append(("row 1's last prompt token changed", prompts, outputs, (1, lp - 1)))
    p2 = _ids(rng, (4, 5)) + 60 * np.arange(4)[:, None]
    o2 = np.concatenate([p2, _ids(rng, (4, 3))], axis=1)
    bad_cases.append(("rows of outputs in another order", p2, o2[[1, 0, 3, 2]], None))
    bad_cases.append(("the last row's first token changed", p2, o2.copy(), (3, 0)))
    for what, prompts, outputs, where in bad_cases:
        outputs = outputs.copy()
        if where is not None:
            outputs[where] = outputs[where] + 1
        try:
            call(fn, prompts.copy(), outputs.copy(), name="next_training_set")
        except CheckFailed as e:
            if not _raised(e, ValueError):
                if "not written yet" in str(e):
                    raise
                expect(False, f"outputs with {what}", "ValueError", str(e).splitlines()[0][:90],
                       "signal the mismatch with the exception the text names (ValueError), and only that")
        else:
            hint_ = ("a continuation is only meaningful after its own prompt: compare each output's start with its "
                     "prompt, every token of it, every row")
            expect(False, f"next_training_set with {what}", "ValueError", "no error", hint_)
    passed("next_training_set: the continuations, exactly, and a ValueError on a prompt mismatch")


def _ref_distinct(seqs, n):
    grams = Counter(tuple(s[i:i + n]) for s in seqs for i in range(len(s) - n + 1))
    total = sum(grams.values())
    return len(grams), (len(grams) / total if total else 0.0)


@exercise("ch4", refs=("metrics.distinct_n", "metrics.ngrams"))
def distinct_n(fn) -> None:
    """``fn(sequences, n) -> (count, share)``: distinct n-grams across sequences and their share of all n-grams."""
    rng = np.random.default_rng(4004)
    cases = [([[1, 2, 3, 1, 2, 3]], 2), ([[1, 1, 1, 1], [1, 1]], 1), ([[5, 6], [6, 5], [5, 6]], 2),
             ([rng.integers(0, 4, 30).tolist() for _ in range(5)], 3), ([[1, 2]], 3), ([[1, 2], [3, 4]], 2),
             ([[7, 8, 9], [7, 8, 9, 1]], 3), ([[3, 3, 4], [], [4, 3]], 2), ([[1, 12], [11, 2], [1, 1, 2]], 2)]
    for seqs, n in cases:
        want = _ref_distinct(seqs, n)
        arg = [list(s) for s in seqs]
        got = call(fn, arg, n, name="distinct_n")
        unchanged({"sequences": np.array(str(seqs))}, {"sequences": np.array(str(arg))}, "distinct_n")
        text = str(seqs) if len(str(seqs)) < 60 else "5 random sequences"
        label = f"distinct_n({text}, n={n})"
        ok_pair = isinstance(got, (tuple, list)) and len(got) == 2
        expect(ok_pair, f"{label} returns a pair", "(count, share)", show(got, 80),
               "return the number of distinct n-grams and their share, together")
        count, share = got
        expect(isinstance(count, (int, np.integer)) and not isinstance(count, bool), f"{label}: count",
               "an int", show(count, 40), "the count of distinct n-grams is a whole number (len of a set)")
        flat = [t for s in seqs for t in s]
        hint_ = "n-grams are runs of n consecutive tokens inside one sequence; count each different run once"
        if int(count) == _ref_distinct([flat], n)[0] and int(count) != want[0]:
            hint_ = "n-grams never cross from one sequence into the next: take them inside each sequence"
        elif int(count) == sum(_ref_distinct([s], n)[0] for s in seqs) and int(count) != want[0]:
            hint_ = "distinct over all sequences together: an n-gram seen in two sequences counts once"
        elif int(count) == _ref_distinct([s[:-1] for s in seqs], n)[0]:
            hint_ = "a sequence of length L has L - n + 1 n-grams: check the last start position"
        elif n != 2 and int(count) == _ref_distinct(seqs, 2)[0]:
            hint_ = "use the n argument: the n-grams have n tokens"
        elif int(count) == len({"".join(map(str, s[i:i + n])) for s in seqs for i in range(len(s) - n + 1)}):
            hint_ = ("tokens joined into one string without a separator collide ((1, 12) and (11, 2) both give "
                     "'112'): keep each n-gram as a tuple")
        expect(int(count) == want[0], f"{label}: count", want[0], count, hint_)
        total = sum(max(len(s) - n + 1, 0) for s in seqs)
        hint_ = "share = distinct count / total number of n-grams (0.0 when there is no n-gram)"
        if total and close(share, want[0] / max(len(flat), 1)):
            hint_ = "divide by the number of n-grams, not the number of tokens"
        expect(number(share) is not None and close(share, want[1]), f"{label}: share", want[1], share, hint_)
    passed("distinct_n: distinct n-gram counts and shares on 9 inputs")


def _rows(n, start):
    """``n`` rows of 3 equal ints ``start``, ``start + 1``, ...: each row's first column names it."""
    return (start + np.arange(n))[:, None] * np.ones((1, 3), dtype=int)


def _mix_direct(fn) -> None:
    """Direct calls: k rounded, distinct real rows on top, every synthetic row, inputs untouched, rng only."""
    for n, fraction in [(50, 0.1), (20, 0.25), (7, 0.0), (7, 0.1), (12, 0.3), (30, 0.23), (9, 0.35), (10, 1.0)]:
        k = int(round(fraction * n))
        real0, syn0 = _rows(n, 0), _rows(n - k, 1000)
        blocks = np.concatenate([real0, _rows(5, 500)])  # the notebook's real set is a view of its blocks
        real, syn = blocks[:n], syn0.copy()
        runs = []
        for seed in (3, 3, 4, 5, 6):
            out = call(fn, real, syn, fraction, np.random.default_rng(seed), name="mix_training_set")
            runs.append((out, last_call()["global_rng_changed"]))
            unchanged({"real": real0, "synthetic": syn0}, {"real": real, "synthetic": syn}, "mix_training_set")
            label = f"mix_training_set(real of {n} rows, synthetic of {n - k}, fraction={fraction}, rng)"
            expect(isinstance(out, np.ndarray) and out.ndim == 2, f"{label}: the training set",
                   "a 2-D numpy array (rows = examples)", show(out, 80),
                   "join the kept real rows and the synthetic rows into one array (rows stacked)")
            is_real = out[:, 0] < 1000
            got_k = int(is_real.sum())
            hint_ = "k = fraction * len(real), rounded to the nearest whole number"
            if got_k == int(fraction * n):
                hint_ = "int() cuts off the decimals; the text rounds to the nearest whole number"
            elif got_k == math.ceil(fraction * n):
                hint_ = "round to the nearest whole number, not up"
            expect(got_k == k, f"{label}: real rows", k, got_k, hint_)
            expect(len(out) == n, f"{label}: rows", n, len(out), "k real rows + every synthetic row: the training "
                   "set keeps the real size")
            expect(bool(np.all(is_real[:k])), f"{label}: order", "the real rows first, then the synthetic ones",
                   out[:, 0], "stack the kept real rows on top of synthetic, as the text says")
            expect(len(set(out[is_real, 0].tolist())) == k, f"{label}: distinct real rows", k,
                   len(set(out[is_real, 0].tolist())), "draw the real rows without replacement: each at most once")
            expect(np.array_equal(np.sort(out[~is_real, 0]), syn0[:, 0]), f"{label}: synthetic rows",
                   syn0[:, 0], np.sort(out[~is_real, 0]), "keep every row of `synthetic`, each once")
            expect(np.array_equal(out[is_real], real0[out[is_real, 0]]), f"{label}: real rows intact",
                   "whole rows of real", out[is_real], "take whole rows of real (index the first axis)")
        if 0 < k < n:
            rng_contract(runs, f"mix_training_set(..., fraction={fraction}, rng)",
                         lambda a, b: np.array_equal(a, b))


def _mix_fair(fn) -> None:
    """Every real row can be drawn (a fair draw), over many calls with one rng."""
    n, fraction, k = 12, 0.25, 3
    rng = np.random.default_rng(9)
    seen = np.zeros(n)
    for _ in range(60):
        out = call(fn, _rows(n, 0), _rows(n - k, 1000), fraction, rng, name="mix_training_set")
        seen[out[out[:, 0] < 1000, 0]] += 1
    expect(seen.min() > 0, "how often each of 12 real rows is drawn over 60 calls (3 per call)",
           "every row sometimes (about 15 times each)", seen.astype(int), "draw among all len(real) rows")


def _mix_in_loop(fn) -> None:
    """As a data policy in the course's loop, for 4 generations: a new draw of real rows each generation."""
    from .. import loop

    class Learner(loop.Policy):
        name = "learner's mix"

        def __init__(self, fraction):
            self.fraction = fraction

        def n_synthetic(self, n_real):
            return n_real - int(round(self.fraction * n_real))

        def build(self, real, synthetic_sets, rng):
            out = call(fn, real, synthetic_sets[-1], self.fraction, rng, name="mix_training_set")
            # checked here, before the loop measures it, so a wrong type fails as a check, not a TypeError
            expect(isinstance(out, np.ndarray) and out.ndim == 2, "mix_training_set returns the training set",
                   "a 2-D numpy array (rows = examples)", type(out).__name__,
                   "join the kept real rows and the synthetic rows into one array")
            return out

    for n, fraction in [(50, 0.1), (20, 0.25)]:
        real = np.arange(n)[:, None] * np.ones((1, 3), dtype=int)  # real rows: values 0..n-1
        offset = [1000]

        def sample(model, m, rng):
            offset[0] += 1000
            return offset[0] + np.arange(m)[:, None] * np.ones((1, 3), dtype=int)  # synthetic rows: >= 2000

        seen = []
        fam = loop.Family(fit=lambda data, rng: seen.append(np.asarray(data)) or None, sample=sample)
        with silence_progress():
            loop.run(fam, real, 4, policy=Learner(fraction), seed=1)
        k = int(round(fraction * n))
        draws = []
        for g, d in enumerate(seen[1:], 1):
            draws.append(tuple(sorted(d[d[:, 0] < 1000, 0].tolist())))
        if 0 < k < n:
            expect(len(set(draws)) > 1, f"real rows over 4 generations (n={n}, fraction={fraction})",
                   "a new random draw each generation", "the same rows every time",
                   "draw with the rng you are given, every call: the paper re-samples its 10% each generation")


@exercise("ch4", refs=("loop.Mix.build", "loop.Anchor.build", "loop.Builder.__call__"))
def mix_training_set(fn) -> None:
    """``fn(real, synthetic, fraction, rng)``: ``round(fraction * len(real))`` real rows drawn without replacement
    plus every synthetic row; run here as a data policy through ``loop.run`` for 4 generations."""
    _mix_direct(fn)
    _mix_fair(fn)
    _mix_in_loop(fn)
    passed("mix_training_set: 10% (or any fraction) real rows re-drawn each generation, through loop.run")


# ---------------------------------------------------------------------------------------------------------------
# conceptual questions: the answer is a value (the check never calls it)


_BEAM, _RIGHT = 1, 2  # in the text's numbering: chain 1 was written by beam search, statement 2 is right


@exercise("ch4", refs=(), kind="concept")
def which_decoder(answer) -> None:
    """Conceptual question: ``answer = (chain, statement)``: the learner's letter for the chain written by beam search
    and for the statement that is right about choosing a decoder for synthetic training text (the letters of the
    learner's ``checks.variant("04")``: ``chains`` for chains 1 and 2, ``statements`` for statements 1 to 4)."""
    v = variants.variant("04")
    chain, statement = answers(v)["which_decoder"]
    text = "".join(answer) if isinstance(answer, (tuple, list)) and all(isinstance(a, str) for a in answer) else answer
    got = letters(text, "XA", "XYABCD", "part (chain, then statement)", v.chains[1] + v.statements[2])
    expect(got[0] in "XY" and got[1] in "ABCD", "which_decoder: (chain, statement)", "a chain letter 'X' or 'Y', then "
           "a statement letter 'a'-'d'", answer, "the chain first, then the statement")
    expect(got[0] == chain.upper(), "which_decoder: the beam-search chain (your letters: chain 1 is "
           f"{v.chains[0]!r}, chain 2 is {v.chains[1]!r})", "the chain whose text the generation-0 model finds most "
           "probable", got[0], "beam search returns the most likely continuation: low perplexity under the model "
           "that wrote it, and few distinct tokens (Chapter 4, sections 4-5)")
    expect(got[1] == statement.upper(), "which_decoder: the statement about the decoder (your letters: "
           f"{', '.join(f'statement {i + 1} is {x!r}' for i, x in enumerate(v.statements))})", "the statement "
           "consistent with the sampling chain of section 7", got[1].lower(), "what does each decoder remove, and "
           "what remains? Compare the vocabulary and the test perplexity of the sampling chain with the "
           "beam-search chain")
    passed(f"which_decoder: beam search writes the most probable text (your chain {chain!r}); sampling keeps the "
           "model's words, yet still collapses")


def answers(v) -> dict:
    """The answers of this chapter's variant items for the variant ``v`` (``checks.variant("04", student)``)."""
    return {"which_decoder": (v.chains[_BEAM - 1], v.statements[_RIGHT - 1])}
