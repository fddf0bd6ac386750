"""Measurements around the chain: the repetition penalty's effect on the text a model writes, and several models
continuing the same prompts side by side."""
from __future__ import annotations

from .. import lm
from ..runtime import progress
from ..validate import integer as _int, number as _num, seed as _seed
from .devices import _model_for
from .protocol import REPETITION_PENALTY
from .text import _blocks_tensor


def ablation(model, prompts, penalties=(1.0, 2.0, 3.0), *, decoding: str = "beam", batch: int = 128, seed: int = 0,
             refit=None) -> list[dict]:
    """The repetition penalty's effect: one row per penalty, measured on ``model``'s continuations of ``prompts``.

    Columns: ``penalty``; ``repeat_4`` (share of 4-grams that repeat an earlier 4-gram of the same continuation);
    :func:`diversity`; ``ppl_self`` (mean per-block perplexity of the continuations under ``model``: low = the text
    the model finds most likely). ``refit(blocks) -> test perplexity`` (optional) adds ``next_test_ppl``: the
    test perplexity of a next generation fine-tuned on those continuations.
    """
    if isinstance(penalties, (str, bytes)) or not hasattr(penalties, "__iter__"):
        raise TypeError(f"penalties must be a list of numbers >= 1; got {penalties!r}")
    penalties = [_num("penalties", p, 1.0) for p in penalties]
    _seed("seed", seed)
    if refit is not None and not callable(refit):
        raise TypeError(f"refit must be a function blocks -> test perplexity, or None; got {type(refit).__name__}")
    if not penalties:
        raise ValueError("penalties must hold at least one number >= 1")
    rows = []
    for p in progress(penalties, desc="repetition penalty"):
        x = lm.generate(model, prompts, decoding=decoding, repetition_penalty=p, batch=batch, seed=seed)
        rows.append({"penalty": p, "repeat_4": lm.repeat_share(x, 4), **lm.diversity(x),
                     "ppl_self": float(lm.seq_perplexity(model, x).mean())})
        if refit is not None:
            rows[-1]["next_test_ppl"] = float(refit(x))
    return rows


def side_by_side(tok, prompts, *models, labels=None, decoding="beam", repetition_penalty=REPETITION_PENALTY,
                 seed=0, width: int = 300) -> list[dict]:
    """The same prompts continued by each model: a list of dicts ``{"prompt": ..., label: continuation, ...}``."""
    if not (hasattr(tok, "decode") and callable(tok.decode)):
        raise TypeError(f"tok must be a tokenizer with decode() (lm.load_base()'s); got {type(tok).__name__}")
    width = _int("width", width, 1, 100_000)
    _seed("seed", seed)
    if labels is not None and (not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels)):
        raise TypeError(f"labels must be a list of str, one per model, or None; got {labels!r:.60}")
    p = _blocks_tensor(prompts, "prompts")
    if not models:
        raise ValueError("models: give at least one model to continue the prompts")
    for i, m in enumerate(models):
        _model_for(m, p, "prompts", model_name=f"models[{i}]")
    labels = list(labels) if labels is not None else [f"model {i}" for i in range(len(models))]
    if len(labels) != len(models):
        raise ValueError(f"labels must name each of the {len(models)} models; got {labels!r}")
    done = {}  # a model given twice (generation 0 of a run with no later generation) writes once: same seed, same text
    for m in models:
        if id(m) not in done:
            done[id(m)] = lm.generate(m, p, decoding=decoding, repetition_penalty=repetition_penalty, seed=seed)
    outs = [done[id(m)] for m in models]
    return [{"prompt": tok.decode(p[i])[-width:], **{lab: tok.decode(o[i])[:width] for lab, o in zip(labels, outs)}}
            for i in range(len(p))]


def print_side_by_side(rows, width: int = 110) -> None:
    """Print :func:`side_by_side` rows, one block per prompt, in lines of at most ``width`` characters."""
    import textwrap

    width = _int("width", width, 40)
    if not isinstance(rows, (list, tuple)) or not rows or not all(
            isinstance(r, dict) and all(isinstance(v, str) for v in r.values()) and "prompt" in r for r in rows):
        raise TypeError(f"rows must be the non-empty list of dicts side_by_side returns ({{'prompt': str, label: "
                        f"str, ...}}); got {rows!r:.60}")
    for i, r in enumerate(rows):
        print(textwrap.fill(f"--- prompt {i} (end): ...{' '.join(r['prompt'].split())[-160:]}", width,
                            subsequent_indent="    "))
        for k, v in r.items():
            if k != "prompt":
                print(textwrap.fill(f"  [{k}] {' '.join(v.split())}", width, subsequent_indent="      "))
