"""The generational chain of chapter 4 on :func:`collapse_lab.loop.run`: the language-model family, one chain
per setting, a branch of a chain with another decoding, and the experiment chapter 5 compares policies with."""
from __future__ import annotations

import os

import numpy as np

from .. import lm, loop
from ..runtime import as_rng, in_processes_after, seed_all
from ..validate import integer as _int, number as _num, seed as _seed
from .devices import _model_for
from .protocol import DECODINGS, REPETITION_PENALTY, SETTINGS, _setting
from .text import _blocks_tensor


def family(base, prompts, *, epochs: int, batch: int, lr: float, decoding: str = "beam",
           repetition_penalty: float = REPETITION_PENALTY, gen_batch: int = 128, state: dict | None = None,
           written: dict | None = None):
    """The language-model family for :func:`collapse_lab.loop.run`.

    ``fit(blocks, rng)``: a fresh copy of ``base`` fine-tuned on ``blocks`` (n, 64) for ``epochs`` epochs.
    ``sample(model, n, rng)``: ``n`` new 64-token blocks: ``model`` continues ``n`` of the ``prompts`` (the real
    blocks; all of them, in order, when ``n == len(prompts)``, else a random subset), by ``decoding``.
    ``state`` (optional dict) receives the last synthetic set under ``"sample"``, for the metrics.
    ``written`` (optional dict, empty at first) is shared by chains that start from one generation-0 model
    (``loop.run(gen0=...)``): the text the first model to write writes for a given ``n`` and random state is kept
    there with the random state after it, and a later chain asking the same takes it instead of writing it again.
    """
    prompts = _blocks_tensor(prompts, "prompts")
    _model_for(base, prompts, "prompts", model_name="base")
    _int("epochs", epochs, 1), _int("batch", batch, 1), _num("lr", lr, 0, lo_open=True)
    if not isinstance(decoding, str) or decoding not in DECODINGS:
        raise ValueError(f"decoding must be one of {DECODINGS}; got {decoding!r:.60}")
    _num("repetition_penalty", repetition_penalty, 1.0)
    if gen_batch is not None:
        _int("gen_batch", gen_batch, 1)
    if state is not None and not isinstance(state, dict):
        raise TypeError(f"state must be a dict (it receives the last synthetic set) or None; got {state!r:.60}")
    if written is not None and not isinstance(written, dict):
        raise TypeError(f"written must be a dict (shared by chains that start from one model) or None; got "
                        f"{type(written).__name__}")
    state = {} if state is None else state

    def fit(x, rng):
        return lm.finetune(base, x, epochs=epochs, batch=batch, lr=lr, seed=int(rng.integers(2**31)))

    def sample(model, n, rng):
        n = _int("n", n, 0)
        if n > len(prompts):
            raise ValueError(f"n must be <= the number of prompts {len(prompts)}; got {n}")
        # the same model, count, settings and random state write the same text (every draw comes from rng)
        first = written is not None and written.setdefault("model", model) is model
        key = (n, decoding, repetition_penalty, gen_batch, repr(rng.bit_generator.state))
        if first and key in written:
            out, after = written[key]
            rng.bit_generator.state = after
        else:
            pick = np.arange(n) if n == len(prompts) else np.sort(rng.choice(len(prompts), n, replace=False))
            out = lm.generate(model, prompts[pick], decoding=decoding, repetition_penalty=repetition_penalty,
                              batch=gen_batch, seed=int(rng.integers(2**31)), desc=f"writing ({decoding})")
            if first:
                written[key] = (out, rng.bit_generator.state)
        state["sample"] = out
        return out

    return loop.Family(fit=fit, sample=sample, name=f"OPT ({decoding})")


def _check_chain(parts, callback, ref, seq_ppl, shared, start) -> None:
    """:func:`chain`'s optional arguments checked, with an error naming the one that is wrong."""
    if parts is not None and (not isinstance(parts, tuple) or len(parts) != 3):
        raise TypeError("parts must be a tuple (base, tok, corpus), e.g. lm.setup(profile)")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function (generation, model, history) or None; got "
                        f"{type(callback).__name__}")
    if ref is not None and not callable(getattr(ref, "forward", None)):
        raise TypeError(f"ref must be a language model (the generation-0 model) or None; got {type(ref).__name__}")
    if seq_ppl is not None and not isinstance(seq_ppl, dict):
        raise TypeError(f"seq_ppl must be a dict generation -> list, or None; got {type(seq_ppl).__name__}")
    if shared is not None and not isinstance(shared, dict):
        raise TypeError(f"shared must be a dict (kept across chains that differ only in policy) or None; got "
                        f"{type(shared).__name__}")
    if shared is not None and start is not None:
        raise ValueError("shared goes with chains that start at generation 0, not with start= (a resumed chain)")


def chain(setting: str = "a", *, generations: int | None = None, seed: int = 0, profile=None,
          decoding: str = "beam", repetition_penalty: float = REPETITION_PENALTY, policy=None, epochs=None,
          keep=(), callback=None, start=None, rng=None, ref=None, seq_ppl=None, parts=None,
          shared=None) -> loop.History:
    """One generational chain of the chapter: a :class:`~collapse_lab.loop.History` with one row per generation.

    Parameters
    ----------
    setting : ``'a'`` (5 epochs, ``replace``) or ``'b'`` (10 epochs, ``mix`` 10%); ``'replace'``/``'mix'`` alias them.
    generations : generations after generation 0 (default: the profile's).
    seed : int seed of every random choice (policy draws, batch order, dropout, sampling).
    decoding : ``'beam'`` (5-way beam search) or ``'sample'`` (ancestral sampling).
    repetition_penalty : >= 1 (default 2.0, the paper's text).
    policy, epochs : override the setting's data policy (a name or a ``loop.Policy``) and epochs per generation.
    keep, callback, start : passed to :func:`collapse_lab.loop.run` (kept models, per-generation hook, resume).
    rng : the numpy Generator to draw from (default: a new one from ``seed``); to resume exactly, pass the
        generator's state saved after the last finished generation.
    ref : the generation-0 model that scores every training set (default: generation 0 of this chain).
    seq_ppl : dict generation -> list to fill (default: a new one), kept in ``history.meta['seq_ppl']``.
    parts : ``(base, tok, corpus)`` already loaded (default: :func:`setup`, loaded once per process).
    shared : a dict kept across chains that differ only in ``policy`` or ``generations`` (chapter 5's policy table
        passes one): generation 0 is fine-tuned on the real blocks alone, the same under every policy, so the first
        chain stores it there (``loop.run(gen0=...)``) with the text it writes next (:func:`family`'s ``written``),
        and the others reuse them, with the same numbers. Keyed by the seed, the epochs, the sizes, the loaded
        base and the training code, so other settings never share them; the histories share the model.

    Columns: ``test_ppl`` = ``distance`` (perplexity of the real test blocks), ``train_ppl_*`` (summaries of the
    per-block perplexities of the generation's training data under the generation-0 model; every value in
    ``meta['seq_ppl']``), and :func:`diversity` of the text the generation was trained on (gen 0: the real text;
    later: what the previous generation wrote; the blocks themselves in ``meta['text']``, generation -> (n, 64)).
    ``history.models[0]`` is the generation-0 model.
    """
    s = lm.sizes(profile)
    setting = _setting(setting)
    gens = s.generations if generations is None else _int("generations", generations, 0)
    seed = _seed("seed", seed)
    _check_chain(parts, callback, ref, seq_ppl, shared, start)
    base, tok, c = parts if parts is not None else lm.setup(s.profile)
    st = SETTINGS[setting]
    epochs = st["epochs"] if epochs is None else _int("epochs", epochs, 1)
    pol = loop.policy(st["policy"] if policy is None else policy)
    # everything that shapes generation 0's model besides what loop.run checks itself (real data, seed): the base
    # by identity (setup loads it once per process), the sizes, the threads and the code that fine-tunes
    key = ("lm", seed, epochs, repr(sorted(vars(s).items())), base, os.environ.get(lm.THREADS_ENV, ""),
           lm.finetune, lm.train)
    slot = None if shared is None else shared.setdefault(key, {"gen0": {}, "written": {}})
    state: dict = {}
    fam = lm.family(base, c.train, epochs=epochs, batch=s.batch, lr=s.lr, decoding=decoding,
                    repetition_penalty=repetition_penalty, gen_batch=s.gen_batch, state=state,
                    written=None if slot is None else slot["written"])
    holder = {"ref": ref}
    seq = {} if seq_ppl is None else seq_ppl
    texts: dict = {}  # generation -> the text its diversity columns measure (gen 0: the real blocks)
    if start is not None and ref is None:
        raise ValueError("resuming (start=...) needs ref=, the generation-0 model")

    def test_ppl(model, train):
        return lm.perplexity(model, c.test)

    def train_ppl(model, train):
        if holder["ref"] is None:  # generation 0 scores every later training set
            holder["ref"] = model
        v = lm.seq_perplexity(holder["ref"], train)
        holder["seq"] = v.tolist()
        return {"mean": v.mean(), "median": np.median(v), "p05": np.quantile(v, 0.05), "p95": np.quantile(v, 0.95)}

    def text(model, train):
        written_text = state.pop("sample", c.train)
        holder["text"] = written_text
        return lm.diversity(written_text)

    def after(g, model, h):
        r = h.rows[-1]
        for k in [k for k in r if k.startswith("text_")]:
            r[k[5:]] = r.pop(k)
        r["distance"] = r["test_ppl"]
        seq[g] = holder.pop("seq")
        texts[g] = holder.pop("text")
        if callback is not None:
            callback(g, model, h)

    seed_all(seed)
    rng = as_rng(seed) if rng is None else rng
    label = st["label"] if policy is None else f"{pol!r}, {epochs} epochs"
    h = loop.run(fam, c.train, gens, policy=pol, seed=rng, keep=keep, callback=after, start=start,
                 gen0=None if slot is None else slot["gen0"],
                 metrics={"test_ppl": test_ppl, "train_ppl": train_ppl, "text": text},
                 desc=f"{label} · {decoding}")
    h.meta.update({"setting": setting, "decoding": decoding, "repetition_penalty": repetition_penalty,
                   "epochs": epochs, "profile": s.profile, "seed": seed, "seq_ppl": seq, "label": label,
                   "text": texts})
    h.models.setdefault(0, holder["ref"])
    return h


def branch(history, *, decoding: str = "beam", repetition_penalty: float = REPETITION_PENALTY, seed: int = 0,
           parts=None) -> loop.History:
    """The chain of ``history`` run again from its generation-0 model with another decoding or repetition penalty.

    ``history`` must come from :func:`chain` with generation 0 kept (``keep=(0, ...)``), so both chains share their
    generation 0 and differ only in how every later generation writes its text (the penalty or decoding is on for
    the whole new chain). Same setting, epochs, policy and profile as ``history``; generation 0's row and
    per-block perplexities are copied from it. Returns a :class:`~collapse_lab.loop.History` of generations
    0..G (G = the generations of ``history``).
    """
    if not isinstance(history, loop.History) or "setting" not in history.meta:
        raise TypeError(f"history must be a History returned by lm.chain; got {type(history).__name__}")
    if 0 not in history.models or history.models[0] is None:
        raise ValueError("history must keep its generation-0 model: run lm.chain(..., keep=(0,))")
    m = history.meta
    gens = int(history["generation"][-1])
    if gens < 1:
        raise ValueError("history must have at least one generation after generation 0")
    if m.get("label") != SETTINGS[m["setting"]]["label"]:
        raise ValueError("history must be a chain of setting 'a' or 'b' with its own policy (no policy= override)")
    m0 = history.models[0]
    h = lm.chain(m["setting"], generations=gens, seed=seed, profile=m["profile"], decoding=decoding,
                 repetition_penalty=repetition_penalty, epochs=m["epochs"], start=(0, m0, []), ref=m0,
                 seq_ppl={0: m["seq_ppl"][0]}, parts=parts)
    out = loop.History(history.rows[:1] + h.rows, meta=h.meta)
    if 0 in m.get("text", {}):
        out.meta["text"] = {0: m["text"][0], **h.meta.get("text", {})}
    out.models[0] = m0
    return out


def experiment(policy="replace", *, generations=None, seed=0, profile=None, shared=None) -> loop.History:
    """The chapter's headline chain under data policy ``policy``; ``distance`` = mean test perplexity.

    Every policy trains 5 epochs per generation (setting (a)'s budget) so that only the data policy differs;
    ``'replace'`` is setting (a) itself. ``policy``: ``'replace'``, ``'accumulate'``, ``'mix'`` (10% real),
    ``'anchor'`` (1 real block added) or a ``loop.Policy``. ``shared``: a dict kept across calls that differ only in
    ``policy`` or ``generations``, so that they train generation 0 once (see :func:`chain`).
    """
    if isinstance(policy, str) and policy not in loop.POLICIES:
        raise ValueError(f"policy must be one of {loop.POLICIES} or a loop.Policy; got {policy!r}")
    pol = loop.policy(policy)
    return lm.chain("a", generations=generations, seed=seed, profile=profile, policy=pol,
                    epochs=SETTINGS["a"]["epochs"], shared=shared)


def _spec(name: str, spec, allowed: tuple) -> dict:
    if not isinstance(spec, dict) or not all(isinstance(k, str) for k in spec):
        raise TypeError(f"{name} must be a dict of keyword arguments; got {spec!r:.60} ({type(spec).__name__})")
    bad = sorted(set(spec) - set(allowed))
    if bad:
        raise ValueError(f"{name} has arguments {bad}; allowed: {list(allowed)}")
    return spec


def _specs(name: str, specs, allowed: tuple) -> list[dict]:
    if isinstance(specs, (str, bytes, dict)) or not hasattr(specs, "__iter__"):
        raise TypeError(f"{name} must be a list of dicts of keyword arguments; got {specs!r:.60}")
    specs = [_spec(f"{name}[{i}]", s, allowed) for i, s in enumerate(specs)]
    if not specs:
        raise ValueError(f"{name} must hold at least one dict of keyword arguments")
    return specs


_CHAIN_ARGS = ("setting", "generations", "seed", "profile", "decoding", "repetition_penalty", "policy", "epochs",
               "keep")
_BRANCH_ARGS = ("decoding", "repetition_penalty", "seed")


def _one_chain(spec: dict, parts) -> loop.History:
    return lm.chain(**spec, parts=parts)


def _one_branch(history, spec: dict, parts) -> loop.History:
    return lm.branch(history, **spec, parts=parts)


def chains(specs, *, parts=None, branches=None) -> list:
    """Independent chains side by side: ``[lm.chain(**spec, parts=parts) for spec in specs]``, one process per
    chain at a time (this one and workers, as :func:`collapse_lab.runtime.in_processes`; put the longest first),
    and optionally branches of some of them (:func:`branch`), each started as soon as its chain has ended, in
    whichever process is free first (so no process waits for the longest chain before the branches begin).

    ``specs``: a list of dicts of :func:`chain`'s arguments (``setting``, ``generations``, ``seed``, ``profile``,
    ``decoding``, ``repetition_penalty``, ``policy``, ``epochs``, ``keep``). ``branches``: None, or a dict
    ``{i: [branch spec, ...]}``: branches of the chain ``specs[i]`` (which must keep generation 0,
    ``keep=(0, ...)``), each a dict of :func:`branch`'s arguments (``decoding``, ``repetition_penalty``, ``seed``).
    Every chain and branch seeds everything it draws from its own ``seed`` and trains on a fixed number of torch
    threads (:func:`threads`), so the histories are the same, to the last bit, as the calls one after the other,
    on any number of cores. ``parts`` (``(base, tok, corpus)``, default :func:`setup`) is copied into each worker.

    Returns the histories in the order of ``specs``, then, for each key of ``branches`` in its order, the list of
    that chain's branch histories in the order of its specs: ``h_b, h_a, (h_n, h_s) = lm.chains([b, a],
    branches={1: [n, s]})``. Kept models (``keep``) come back with them.
    """
    specs = _specs("specs", specs, _CHAIN_ARGS)
    if branches is None:
        branches = {}
    if not isinstance(branches, dict):
        raise TypeError(f"branches must be None or a dict {{chain index: [branch spec, ...]}}; got {branches!r:.60}")
    todo = {}
    for i, b in branches.items():
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(specs):
            raise ValueError(f"branches' keys must be indices of specs, 0..{len(specs) - 1}; got {i!r}")
        if 0 not in tuple(specs[i].get("keep", ())):
            raise ValueError(f"specs[{i}] has branches, so it must keep its generation-0 model: keep=(0, ...)")
        todo[i] = _specs(f"branches[{i}]", b, _BRANCH_ARGS)
    if parts is None:
        parts = lm.setup(specs[0].get("profile"))
    jobs = [(_one_chain, (spec, parts), None) for spec in specs]
    jobs += [(_one_branch, (spec, parts), i) for i, b in todo.items() for spec in b]
    done = in_processes_after(jobs)
    out, k = done[:len(specs)], len(specs)
    for b in todo.values():
        out.append(done[k:k + len(b)])
        k += len(b)
    return out

