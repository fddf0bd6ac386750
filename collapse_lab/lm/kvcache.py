"""The text generator's fast path: ``model.generate`` through a key/value cache that copies less.

Why it exists: every generation of chapter 4 writes its training text by beam search, and on CPU the library's
own cache spends much of that time copying. Its cache grows by concatenation (every new token copies the whole
cache into a fresh tensor) and beam search then copies it once more to reorder the beams; it also runs the model
over every prompt once per beam. This module's cache writes each token into a buffer allocated once per call,
reorders only the rows whose beam changed, and runs the prompts' pass once per prompt (:func:`cache_kw`,
:func:`prompt_once`). Measured in CPU seconds on one thread, writing 64 tokens after 64-token prompts with
``benchmarks/generation.py`` (transformers 5.25, torch 2.13):

==========================  ========  ==========================  ==========================  ========
model                       prompts   fast path, tokens per s     library's path, tokens/s    speed-up
==========================  ========  ==========================  ==========================  ========
quick base, 5-beam search   128       2,015                       785                         2.6x
quick base, 5-beam search   64        1,970                       1,429                       1.4x
quick base, sampling        128       6,624                       6,181                       1.07x
tests' tiny OPT, beams      128       9,415                       9,048                       1.04x
==========================  ========  ==========================  ==========================  ========

The gain is in beam search on the batches the chapter writes (``lm.gen_batch``: up to 128 prompts), where the
library's copies grow with batch x beams x length; sampling has no beams to reorder and gains little.

It only saves time: the generated tokens are the library's, bit for bit. ``lm.generate(..., fast=False)`` is the
plain path beside it (the library's ``generate`` with its own cache), and ``tests/test_lm.py`` compares the two.

The cache reaches into the library's cache classes (``DynamicCache``, ``DynamicLayer``), which change between
transformers releases, and the course accepts any transformers >= 4.40. So :func:`agrees` checks once per
process, on a tiny random OPT (about 0.2 CPU seconds, on one thread), that this machine's transformers and torch
write the same tokens both ways; where it would write anything else, or fail, generation keeps to the library's
path. The test suite cannot stand in for this guard: it checks only the release installed where it runs.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager

from .devices import _torch
from .protocol import REPETITION_PENALTY


def write(model, prompts, kw: dict):
    """``model.generate`` on the prompts (b, L) with the keyword arguments ``kw`` (as :func:`lm.generate` builds
    them: ``num_beams``, ``max_new_tokens``, ...) through this module's cache and single pass over each prompt, when
    they apply (CPU, buffers within :data:`CACHE_BYTES`); else the library's own path. Same tokens either way."""
    torch = _torch()
    k = kw["num_beams"]
    cache = cache_kw(model, len(prompts) * k, prompts.shape[1] + kw["max_new_tokens"], k)
    with prompt_once(model, k if cache else 1):
        return model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), **cache, **kw)


def plain(model, prompts, kw: dict):
    """The library's own path: ``model.generate`` on the prompts (b, L) with ``kw`` and its default cache."""
    return model.generate(input_ids=prompts, attention_mask=_torch().ones_like(prompts), **kw)


@functools.lru_cache(maxsize=1)
def agrees() -> bool:
    """Whether this machine's transformers and torch write the same tokens through :func:`write` as through
    :func:`plain`: checked once per process on a tiny random OPT (beam search with and without the repetition
    penalty, and sampling). A run-time guard, not a test: the test suite checks the course's pinned libraries, a
    learner may run another transformers release whose cache classes :func:`cache_kw` does not fit."""
    torch = _torch()
    threads = torch.get_num_threads()
    try:
        from transformers import OPTConfig, OPTForCausalLM

        # one thread: on a model this small more threads only wait for each other (0.2 CPU s instead of ~5 on two)
        torch.set_num_threads(1)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            # weights large enough for peaked next-token distributions, so the beams overtake one another (at
            # the library's default scale a random model's beams never reorder, and a wrong reorder would pass)
            cfg = OPTConfig(vocab_size=256, hidden_size=16, ffn_dim=32, num_hidden_layers=2, num_attention_heads=2,
                            max_position_embeddings=64, word_embed_proj_dim=16, init_std=0.5, pad_token_id=1,
                            bos_token_id=2, eos_token_id=2)
            model = OPTForCausalLM(cfg).eval()
            prompts = torch.randint(3, 256, (4, 8))
            base = dict(max_new_tokens=16, min_new_tokens=16, pad_token_id=1, eos_token_id=2, bos_token_id=2)
            runs = [dict(do_sample=False, num_beams=3, early_stopping=True, length_penalty=1.0, repetition_penalty=pen)
                    for pen in (REPETITION_PENALTY, 1.0)]
            runs.append(dict(do_sample=True, num_beams=1, top_k=0, top_p=1.0, temperature=1.0))
            for run in runs:
                outs = []
                for way in (write, plain):
                    torch.manual_seed(1)
                    outs.append(way(model, prompts, {**base, **run}))
                if not torch.equal(*outs):
                    return False
        return True
    except Exception:  # noqa: BLE001  any failure of the check: the library's path, which needs none of this
        return False
    finally:
        torch.set_num_threads(threads)


#: the most memory (bytes) the key/value buffers of one ``generate`` call may take; larger calls use the library's
#: own cache (same tokens, more copying)
CACHE_BYTES = 1 << 30


def cache_kw(model, rows: int, length: int, beams: int) -> dict:
    """``generate``'s ``cache=`` argument: a key/value cache that copies less, when it fits, else nothing (the
    library's default cache).

    The library's cache grows by concatenation, so every new token copies the whole cache into a fresh tensor,
    and beam search then copies it once more to reorder the beams. This one writes each token into a buffer
    allocated once per call (``rows`` x ``length`` positions) and hands the attention a view of its filled part.
    The beams' reordering is deferred to the next write and moves only the rows whose beam changed, and only
    their generated positions: beam search keeps each prompt's ``beams`` rows together, and their prompt
    positions are equal (checked once, after the prompt). The attention reads the same numbers (its CPU kernel
    gives bit-identical results on the view), so the generated tokens are unchanged; it only saves time. CPU
    only, like the check.
    """
    c = model.config
    layers, heads = getattr(c, "num_hidden_layers", None), getattr(c, "num_attention_heads", None)
    width = getattr(c, "hidden_size", None)
    if next(model.parameters()).device.type != "cpu" or not all(isinstance(v, int) for v in (layers, heads, width)):
        return {}
    dtype = next(model.parameters()).dtype
    if 2 * layers * rows * length * width * dtype.itemsize > CACHE_BYTES:  # keys and values
        return {}
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:  # an older or newer layout of the library: its own cache
        return {}
    cache = DynamicCache(config=c)
    if len(cache.layers) != layers or any(type(x) is not DynamicLayer for x in cache.layers):
        return {}
    cache.layers = [buffered_layer(DynamicLayer, length, beams) for _ in range(layers)]
    return {"cache": cache}


def buffered_layer(base, capacity: int, beams: int):
    """A ``DynamicLayer`` (class ``base``) holding at most ``capacity`` positions in one buffer (see :func:`cache_kw`);
    anything else it is asked to do (more positions, another batch, cropping) it does as the library does."""
    return _buffered_class(base)(capacity, beams)


@functools.lru_cache(maxsize=None)
def _buffered_class(base) -> type:
    """:class:`_Buffered` over the library's layer class ``base`` (imported only when a cache is built)."""
    return type("Buffered", (_Buffered, base), {})


class _Buffered:
    """What :func:`buffered_layer` adds to the library's ``DynamicLayer``: one buffer per call for keys and values
    (``capacity`` positions), the beams' reordering deferred to the next write and done in place (``beams`` rows
    per prompt share the prompt's positions)."""

    def __init__(self, capacity: int, beams: int):
        super().__init__()
        self.capacity, self.beams = capacity, beams

    def lazy_initialization(self, key_states, value_states):
        super().lazy_initialization(key_states, value_states)
        b, h, _, d = key_states.shape
        self.buf = {n: _torch().empty(b, h, self.capacity, d, dtype=t.dtype, device=t.device)
                    for n, t in (("keys", key_states), ("values", value_states))}
        self.shape, self.pending, self.same, self.buffered = (b, h, d), None, 0, True

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        old = self.get_seq_length()
        n = old + key_states.shape[-2]
        b, h, _, d = key_states.shape
        if self.buffered and (n > self.capacity or (b, h, d) != self.shape):
            self._leave()
        if not self.buffered:
            self._reorder_copy()
            return super().update(key_states, value_states, *args, **kwargs)
        self._reorder_in_place(old)
        for name, new in (("keys", key_states), ("values", value_states)):
            self.buf[name][:, :, old:n].copy_(new)
            setattr(self, name, self.buf[name][:, :, :n])
        if old == 0:
            k = self.beams
            if k > 1 and b % k == 0 and all(grouped_equal(t, k) for t in (key_states, value_states)):
                self.same = n  # the prompt: equal in each group of `beams` rows
            # the library hands the prompt's attention contiguous copies: so does this
            return key_states.contiguous(), value_states.contiguous()
        return self.keys, self.values

    def reorder_cache(self, beam_idx):
        if self.get_seq_length() > 0:
            idx = beam_idx.to(self.keys.device)
            self.pending = idx if self.pending is None else self.pending[idx]

    def _reorder_in_place(self, old):
        p, self.pending = self.pending, None
        if p is None or old == 0:
            return
        rows = _torch().arange(len(p), device=p.device)
        lo = self.same if self.same and bool((p // self.beams == rows // self.beams).all()) else 0
        self.same = lo  # a reorder across groups (never made by beam search) ends the shared prompt
        moved = (p != rows).nonzero()[:, 0]
        if lo >= old or len(moved) == 0:
            return
        for buf in self.buf.values():
            part = buf[:, :, lo:old]
            part.index_copy_(0, moved, part.index_select(0, p[moved]))

    def _reorder_copy(self):
        if self.pending is not None:
            self.keys = self.keys.index_select(0, self.pending)
            self.values = self.values.index_select(0, self.pending)
            self.pending = None

    def _leave(self):  # from now on, the library's way
        self._reorder_copy()
        self.keys, self.values, self.buffered = self.keys.contiguous(), self.values.contiguous(), False

    # what else reads or reshapes the rows sees them in their current order
    def crop(self, tokens_to_remove):
        if self.is_initialized and self.buffered:
            self._leave()
        super().crop(tokens_to_remove)

    def batch_repeat_interleave(self, repeats):
        if self.is_initialized and self.buffered:
            self._leave()
        super().batch_repeat_interleave(repeats)

    def batch_select_indices(self, indices):
        if self.is_initialized and self.buffered:
            self._leave()
        super().batch_select_indices(indices)


@contextmanager
def prompt_once(model, k: int):
    """Inside the block, the first forward pass of ``model`` (``generate``'s pass over the prompts) runs once per
    prompt instead of once per beam when its rows come in equal groups of ``k`` (beam search copies each prompt
    ``k`` times first), and hands back the results repeated ``k`` times.

    The rows of a forward pass are computed independently, so each row's numbers are the ones the copies would get
    (checked bit for bit on this course's models), in a ``k``-th of the time. Only with the buffered cache
    (:func:`cache_kw`: CPU), and only when ``forward`` is the class's own.
    """
    if k <= 1 or "forward" in vars(model):
        yield
        return
    torch = _torch()
    from transformers.cache_utils import Cache, DynamicCache

    def first(*args, **kw):
        del model.forward  # only the prompts' pass
        ids, cache = kw.get("input_ids"), kw.get("cache")
        b = 0 if ids is None else ids.shape[0]
        if (args or ids is None or not isinstance(cache, Cache) or cache.get_seq_length() or b % k
                or kw.get("inputs_embeds") is not None):
            return model(*args, **kw)
        small = {}
        for name, v in kw.items():
            if isinstance(v, torch.Tensor) and v.ndim and v.shape[0] == b:
                if not grouped_equal(v, k):
                    return model(*args, **kw)
                v = v[::k]
            small[name] = v
        small["cache"] = DynamicCache(config=model.config)
        out = model(**small)
        for i, layer in enumerate(small["cache"].layers):
            cache.update(layer.keys.repeat_interleave(k, 0), layer.values.repeat_interleave(k, 0), i)
        out.logits, out.cache = out.logits.repeat_interleave(k, 0), cache
        return out

    # the library reads forward's signature (e.g. to compute only the last position's logits): keep the class's
    model.forward = functools.wraps(model.forward)(first)
    try:
        yield
    finally:
        if "forward" in vars(model):  # generate never ran a forward pass
            del model.forward


def grouped_equal(t, k: int) -> bool:
    """Whether the rows of ``t`` (b, ...) are equal in each consecutive group of ``k``."""
    g = t.unflatten(0, (t.shape[0] // k, k))
    return bool(_torch().equal(g, g[:, :1].expand_as(g)))
