"""Checks of Chapter 4 (language-model collapse): each runs the learner's function on several inputs against a
reference computed here."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from .core import call, close, expect, passed


def _ids(rng, n, vocab=50):
    return rng.integers(0, vocab, size=n)


def pack_blocks(fn) -> None:
    """``fn(ids, size) -> (len(ids) // size, size)`` int array of consecutive blocks; the remainder dropped."""
    rng = np.random.default_rng(4)
    cases = [(130, 64), (128, 64), (63, 64), (17, 4), (1000, 7), (5, 1)]
    for n, size in cases:
        ids = _ids(rng, n)
        got = call(fn, ids, size, name="pack_blocks")
        want = ids[: (n // size) * size].reshape(n // size, size)
        arr = np.asarray(got)
        expect(arr.shape == want.shape, f"pack_blocks(ids of length {n}, size={size}): shape", want.shape, arr.shape,
               "n // size full blocks; drop the last len(ids) % size tokens (a partial block is not a block)")
        expect(np.array_equal(arr, want), f"pack_blocks(ids of length {n}, size={size}): values", want, arr,
               "block i holds ids[i*size:(i+1)*size], in order: reshape the kept prefix")
        expect(np.issubdtype(arr.dtype, np.integer), "pack_blocks: dtype", "an integer array", arr.dtype,
               "token ids are integers: keep the input's integer dtype")
    passed("pack_blocks: consecutive 64-token blocks, the remainder dropped, on 6 inputs")


def perplexities(fn) -> None:
    """``fn(losses) -> (corpus_ppl, per_block_ppl)`` from per-token losses (n_blocks, n_tokens) in nats."""
    rng = np.random.default_rng(44)
    for shape in [(1, 5), (3, 63), (10, 7), (2, 1)]:
        losses = rng.gamma(2.0, 2.0, size=shape)
        got = call(fn, losses, name="perplexities")
        expect(isinstance(got, tuple) and len(got) == 2, "perplexities returns a pair", "(corpus_ppl, per_block_ppl)",
               type(got).__name__, "return corpus, per_block")
        corpus, per = got
        want_c, want_p = math.exp(losses.mean()), np.exp(losses.mean(axis=1))
        expect(close(corpus, want_c, rtol=1e-6), f"corpus perplexity of losses {shape}", want_c, corpus,
               "exp of the mean loss over every token (not the mean of the per-block perplexities)")
        expect(close(per, want_p, rtol=1e-6), f"per-block perplexities of losses {shape}", want_p, per,
               "one number per row: exp(mean of that row's losses)")
    # the corpus perplexity is not the mean of the block perplexities (Jensen): a swapped formula must fail
    losses = np.array([[0.1, 0.1], [5.0, 5.0]])
    corpus, _ = call(fn, losses, name="perplexities")
    expect(close(corpus, math.exp(2.55)), "corpus perplexity of two very different blocks", math.exp(2.55), corpus,
           "exp(mean loss) = 12.8 here; the mean of exp(0.1) and exp(5.0) would be 74.8")
    passed("perplexities: exp(mean token loss) for the corpus and per block, on 5 inputs")


def next_training_set(fn) -> None:
    """``fn(prompts, outputs) -> continuations``: the new tokens after each prompt; ValueError on a mismatch."""
    rng = np.random.default_rng(404)
    for n, lp, new in [(4, 64, 64), (1, 3, 5), (7, 10, 2)]:
        prompts = _ids(rng, (n, lp))
        cont = _ids(rng, (n, new))
        outputs = np.concatenate([prompts, cont], axis=1)
        got = np.asarray(call(fn, prompts, outputs, name="next_training_set"))
        expect(got.shape == cont.shape and np.array_equal(got, cont),
               f"next_training_set(prompts {prompts.shape}, outputs {outputs.shape})", cont, got,
               "generate returns prompt + continuation; keep only the columns after the prompt")
    prompts = _ids(rng, (3, 4))
    outputs = np.concatenate([prompts, _ids(rng, (3, 4))], axis=1)
    outputs[1, 0] = (outputs[1, 0] + 1) % 50  # row 1 no longer starts with its prompt
    try:
        fn(prompts, outputs)
    except ValueError:
        pass
    except NotImplementedError:
        call(fn, prompts, outputs, name="next_training_set")
    except Exception as e:  # noqa: BLE001 - any other error is the wrong kind
        expect(False, "outputs whose row 1 does not start with its prompt", "ValueError", type(e).__name__,
               "check (outputs[:, :L] == prompts).all() and raise ValueError otherwise")
    else:
        expect(False, "outputs whose row 1 does not start with its prompt", "ValueError", "no error",
               "a continuation is only meaningful after its own prompt: raise ValueError when the prefix differs")
    passed("next_training_set: the continuations, exactly, and a ValueError on a prompt mismatch")


def distinct_n(fn) -> None:
    """``fn(sequences, n) -> (count, share)``: distinct n-grams across sequences and their share of all n-grams."""
    rng = np.random.default_rng(4004)
    cases = [([[1, 2, 3, 1, 2, 3]], 2), ([[1, 1, 1, 1], [1, 1]], 1), ([[5, 6], [6, 5], [5, 6]], 2),
             ([list(rng.integers(0, 4, 30)) for _ in range(5)], 3), ([[1, 2]], 3)]
    for seqs, n in cases:
        grams = Counter(tuple(s[i:i + n]) for s in seqs for i in range(len(s) - n + 1))
        total = sum(grams.values())
        want = (len(grams), len(grams) / total if total else 0.0)
        got = call(fn, seqs, n, name="distinct_n")
        ok = isinstance(got, tuple) and len(got) == 2 and int(got[0]) == want[0] and close(got[1], want[1])
        expect(ok, f"distinct_n({seqs if len(str(seqs)) < 60 else '5 random sequences'}, n={n})", want, got,
               "count n-grams inside each sequence (never across two), the set of distinct ones over all; "
               "share = distinct / total, 0.0 when there is no n-gram")
    passed("distinct_n: distinct n-gram counts and shares on 5 inputs")


def mix_training_set(fn) -> None:
    """``fn(real, synthetic, fraction, rng)``: ``round(fraction * len(real))`` real rows drawn without replacement
    plus every synthetic row; run here as a data policy through ``loop.run`` for 4 generations."""
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
                   "join the kept real rows and the synthetic rows with np.concatenate(..., axis=0)")
            return out

    for n, fraction in [(50, 0.1), (20, 0.25), (7, 0.0)]:
        real = np.arange(n)[:, None] * np.ones((1, 3), dtype=int)  # real rows: values 0..n-1
        offset = [1000]

        def sample(model, m, rng):
            offset[0] += 1000
            return offset[0] + np.arange(m)[:, None] * np.ones((1, 3), dtype=int)  # synthetic rows: >= 2000

        seen = []
        fam = loop.Family(fit=lambda data, rng: seen.append(np.asarray(data)) or None, sample=sample)
        loop.run(fam, real, 4, policy=Learner(fraction), seed=1)
        k = int(round(fraction * n))
        draws = []
        for g, d in enumerate(seen[1:], 1):
            expect(d.ndim == 2 and len(d) == n, f"generation {g}'s training set (n={n}, fraction={fraction}): rows",
                   n, d.shape, "k real rows + (n - k) synthetic rows: the training set keeps the real size")
            is_real = d[:, 0] < 1000
            real_rows = d[is_real, 0]
            expect(int(is_real.sum()) == k, f"generation {g}: real rows (n={n}, fraction={fraction})", k,
                   int(is_real.sum()), "k = round(fraction * len(real)) real rows")
            expect(len(set(real_rows.tolist())) == k, f"generation {g}: distinct real rows", k,
                   len(set(real_rows.tolist())),
                   "draw the real rows without replacement (rng.choice(..., replace=False))")
            synth = np.sort(d[~is_real, 0])
            want = offset[0] - 1000 * (4 - g) + np.arange(n - k)
            expect(np.array_equal(synth, want), f"generation {g}: synthetic rows", "all of the last synthetic set",
                   synth, "use every row of `synthetic` (the previous generation's samples), once")
            draws.append(tuple(sorted(real_rows.tolist())))
        if 0 < k < n:
            expect(len(set(draws)) > 1, f"real rows over 4 generations (n={n}, fraction={fraction})",
                   "a new random draw each generation", "the same rows every time",
                   "draw with the rng you are given, every call: the paper re-samples its 10% each generation")
    passed("mix_training_set: 10% (or any fraction) real rows re-drawn each generation, through loop.run")


# ---------------------------------------------------------------------------------------------------------------
# conceptual questions: the answer is a value (the check never calls it)


def _letters(answer, n: int, what: str, options: str):
    """``answer`` as a tuple of ``n`` upper-case strings, or a failed check saying what shape was expected."""
    expect(not callable(answer), what, f"a value such as {options}", type(answer).__name__,
           "write the answer itself (no function), e.g. answer = " + options)
    vals = answer if isinstance(answer, (tuple, list)) else (answer,)
    ok = len(vals) == n and all(isinstance(v, str) and len(v.strip()) == 1 for v in vals)
    expect(ok, what, options, answer, f"give {n} single letter(s), in a tuple when there are several")
    return tuple(v.strip().upper() for v in vals)


def which_decoder(answer) -> None:
    """Conceptual question: ``answer = (chain, statement)``: which chain (``'X'`` or ``'Y'``) was written by beam
    search, and which statement (``'a'``-``'d'``) is right about choosing a decoder for synthetic training text."""
    chain, statement = _letters(answer, 2, "which_decoder: (chain, statement)", "('X', 'a')")
    expect(chain in ("X", "Y"), "which_decoder: the chain is 'X' or 'Y'", "'X' or 'Y'", chain,
           "two chains, two letters")
    expect(chain == "X", "which_decoder: the beam-search chain", "the chain whose text the generation-0 model finds "
           "most probable", chain, "beam search returns the most likely continuation: low perplexity under the model "
           "that wrote it, and few distinct tokens (Chapter 4, sections 4-5)")
    expect(statement in "ABCD", "which_decoder: the statement is one of 'a'-'d'", "'a', 'b', 'c' or 'd'", statement,
           "one letter")
    expect(statement == "B", "which_decoder: the statement about the decoder", "the statement consistent with the "
           "sampling chain of section 7", statement, "what does each decoder remove, and what remains? Compare the "
           "vocabulary and the test perplexity of the sampling chain with the beam-search chain")
    passed("which_decoder: beam search writes the most probable text (X); sampling keeps the model's words, "
           "yet still collapses")
