"""The paper's protocol for chapter 4, and the sizes each profile runs it at.

Protocol (the paper's): text is cut into 64-token blocks. Generation 0 fine-tunes the base on the real blocks. The
fine-tuned model of generation n-1 is prompted with each real block and writes exactly 64 new tokens (5-way beam
search by default); those continuations form generation n's training set, the same size as the real one, on which
the base is fine-tuned again. Setting (a): 5 epochs, no real data (``replace``). Setting (b): 10 epochs, a random
10% of the real blocks re-drawn every generation (the loop's ``mix`` policy).

Decisions where the paper is silent: the repetition penalty defaults to 2.0 (the paper's text; its code used 3.0,
:func:`~collapse_lab.lm.ablation` measures both); "test perplexity" is the corpus perplexity exp(mean token loss)
over the test blocks; fine-tuning uses AdamW with a linear decay to zero, dropout 0.1 (OPT's); sampling means pure
ancestral sampling (temperature 1, no top-k / top-p).
"""
from __future__ import annotations

from types import SimpleNamespace

from .. import profiles

BLOCK = 64  # tokens per block: the paper's prompt length and number of new tokens
PAPER_BASE = "facebook/opt-125m"

# base: a hub id / folder to load (paper), or None = the package's own base built from `model` and `pretrain`.
SIZES = {
    "quick": dict(base=None, model=dict(layers=2, width=128, heads=4, vocab=2048),
                  pretrain=dict(epochs=3, lr=2e-3, batch=32), n_train=96, n_test=128, generations=3,
                  batch=32, lr=6e-4, gen_batch=128, n_samples=2, n_ablation=48),
    # the same base as quick (one cached folder for both), more real blocks and generations; 4 generations, not 5:
    # every alarm fires by generation 3 and the curves flatten after it (generation 5 added 1-2% to the perplexity
    # ratios), while the fifth cost a sixth of the chapter's fine-tunes on the course build's critical path
    "standard": dict(base=None, model=dict(layers=2, width=128, heads=4, vocab=2048),
                     pretrain=dict(epochs=3, lr=2e-3, batch=32), n_train=192, n_test=256, generations=4,
                     batch=32, lr=6e-4, gen_batch=128, n_samples=3, n_ablation=96),
    # n_train / n_test None: every block of WikiText-2's train / test split
    "paper": dict(base=PAPER_BASE, model=None, pretrain=None, n_train=None, n_test=None, generations=10,
                  batch=16, lr=5e-5, gen_batch=64, n_samples=3, n_ablation=512),
}
#: Chapter 4 only, outside the course's profiles: ``paper``'s model and protocol sized for about 30 minutes on one
#: NVIDIA T4 (see the README's compute table): an evenly spread slice of 6,000 train blocks (16% of WikiText-2
#: train), 1,000 test blocks, the paper's 10 generations; bf16/fp16 autocast on CUDA (:func:`amp_dtype`);
#: gen_batch None = as many prompts per generate call as the GPU's free memory holds (:func:`gen_batch`).
LM_PROFILES = {"gpu": dict(base=PAPER_BASE, model=None, pretrain=None, n_train=6000, n_test=1000, generations=10,
                           batch=32, lr=5e-5, gen_batch=None, n_samples=3, n_ablation=512)}

SETTINGS = {
    "a": dict(policy="replace", epochs=5, label="(a) 5 epochs, no real data"),
    "b": dict(policy="mix", epochs=10, label="(b) 10 epochs, 10% real data"),
}
SETTING_ALIASES = {"replace": "a", "mix": "b"}
DECODINGS = ("beam", "sample")
BEAMS = 5
REPETITION_PENALTY = 2.0


def sizes(profile=None) -> SimpleNamespace:
    """The chapter's sizes for ``profile`` (default: the active profile; also ``'gpu'``, see ``LM_PROFILES``)."""
    if isinstance(profile, str) and profile in LM_PROFILES:
        return SimpleNamespace(profile=profile, **LM_PROFILES[profile])
    return profiles.pick(SIZES, profile)


def _setting(setting):
    if not isinstance(setting, str):
        raise TypeError(f"setting must be one of 'a', 'b', 'replace', 'mix'; got {type(setting).__name__}")
    setting = SETTING_ALIASES.get(setting, setting)
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of 'a', 'b' (or 'replace', 'mix'); got {setting!r}")
    return setting
