"""Chapter 4: model collapse of a language model (OPT) fine-tuned on WikiText-2, generation after generation.

The paper's headline experiment (Shumailov et al., Nature 2024, Fig. 1): OPT-125m is fine-tuned on WikiText-2;
every later generation fine-tunes the *same pretrained base* on text written by the previous generation.

One code path, three sizes (``SIZES``):

- ``paper``: ``facebook/opt-125m`` and its tokenizer through ``from_pretrained``; the WikiText-2 train split for
  fine-tuning and its test split for evaluation (network, GPU expected). ``$COLLAPSE_LAB_LM_BASE`` may name another
  model folder or hub id to use instead (the tests point it at a tiny local OPT).
- ``quick`` / ``standard``: the same class, ``OPTForCausalLM``, with a small ``OPTConfig`` and a byte-level BPE
  tokenizer trained with ``tokenizers``. The package "pretrains" this base itself on real text, once per machine,
  caches it in a folder keyed by everything that shapes it (:func:`base_key`), and every notebook and test loads it
  with the same ``from_pretrained`` call as the paper profile (:func:`load_base`).

The chapter's code, one concept per file; every public name is reached as ``lm.NAME``:

- ``protocol``     the paper's protocol (settings (a) and (b), 64-token blocks, beam search) and each profile's sizes
- ``text``         WikiText-2 as 64-token blocks, the tokenizer, and which text plays which role
- ``base``         the base model: its config, pretraining once per machine, its cache key, loading
- ``training``     training on blocks: pretraining the base and fine-tuning every generation
- ``scoring``      token losses and perplexities under a model; diversity and repetition of text
- ``generation``   exactly 64 new tokens after each prompt, by beam search or sampling
- ``kvcache``      the generator's fast path: a key/value cache that copies less (same tokens, less time)
- ``chains``       the generational chain, a branch of it with another decoding, the experiment of chapter 5
- ``comparisons``  the repetition penalty's effect, several models continuing the same prompts
- ``figures``      the chapter's plots
- ``devices``      CPU threads; mixed precision, memory-sized batches and several processes on GPUs
- ``run``          ``collapse-lab run lm``: a resumable run into a folder, and paper scale on several GPUs

The files call each other's public functions through the package (``lm.train(...)``, not ``train(...)``): a
notebook or test that replaces ``lm.train`` then changes it for every caller, and the base's cache key hashes the
code the package really runs (:func:`trainer_code`).
"""
from __future__ import annotations

# the shared modules the chapter builds on stay reachable from it, e.g. lm.loop.History for a run's metrics
from .. import data, loop, metrics, profiles  # noqa: F401
from .protocol import (BEAMS, BLOCK, DECODINGS, LM_PROFILES, PAPER_BASE, REPETITION_PENALTY, SETTING_ALIASES,
                       SETTINGS, SIZES, sizes)
from .devices import THREADS_ENV, amp_dtype, gen_batch, main_process, threads
from .text import (WIKITEXT_CONFIG, WIKITEXT_ENV, blocks, corpus, detokenize, drop_unk, encode, paper_text, spread,
                   train_tokenizer)
from .text import _chunks, _half  # noqa: F401  (trainer_code hashes them, found by name in the package)
from .base import (BASE_ENV, CACHE_ENV, TRAINER_CODE, TRAINER_VERSION, base_key, base_ready, base_source, base_spec,
                   cache_dir, config, ensure_base, load, load_base, setup, trainer_code)
from .base import _LOADED  # noqa: F401  (setup reads lm._LOADED)
from .training import finetune, train
from .scoring import diversity, perplexity, repeat_share, seq_perplexity, token_losses
from .generation import continuations, generate
from .chains import branch, chain, chains, experiment, family
from .comparisons import ablation, print_side_by_side, side_by_side
from .figures import plot_chains, plot_generation, plot_seq_ppl
from .run import run_experiment

__all__ = [
    "BEAMS", "BLOCK", "DECODINGS", "LM_PROFILES", "PAPER_BASE", "REPETITION_PENALTY", "SETTING_ALIASES", "SETTINGS",
    "SIZES", "sizes",
    "THREADS_ENV", "amp_dtype", "gen_batch", "main_process", "threads",
    "WIKITEXT_CONFIG", "WIKITEXT_ENV", "blocks", "corpus", "detokenize", "drop_unk", "encode", "paper_text", "spread",
    "train_tokenizer",
    "BASE_ENV", "CACHE_ENV", "TRAINER_CODE", "TRAINER_VERSION", "base_key", "base_ready", "base_source", "base_spec",
    "cache_dir", "config", "ensure_base", "load", "load_base", "setup", "trainer_code",
    "finetune", "train",
    "diversity", "perplexity", "repeat_share", "seq_perplexity", "token_losses",
    "continuations", "generate",
    "branch", "chain", "chains", "experiment", "family",
    "ablation", "print_side_by_side", "side_by_side",
    "plot_chains", "plot_generation", "plot_seq_ppl",
    "run_experiment",
]
