"""Text a model writes: exactly 64 new tokens after each prompt, by beam search or ancestral sampling."""
from __future__ import annotations

from .. import lm
from ..runtime import progress
from ..validate import integer as _int, number as _num
from .devices import _accelerator, _autocast, _model_for, _torch, threads
from .protocol import BEAMS, BLOCK, DECODINGS, REPETITION_PENALTY
from .text import _blocks_tensor


def continuations(outputs, prompts, new: int = BLOCK):
    """The ``new`` generated tokens of each row: ``generate`` returns prompt + continuation, (n, Lp + new).

    Checks that each output starts with its prompt and has exactly ``new`` more tokens; returns (n, new).
    """
    o, p = _blocks_tensor(outputs, "outputs"), _blocks_tensor(prompts, "prompts")
    new = _int("new", new, 1)
    if o.shape != (p.shape[0], p.shape[1] + new) or not bool((o[:, :p.shape[1]] == p).all()):
        raise ValueError(f"outputs must be the prompts (n, {p.shape[1]}) followed by exactly {new} new tokens; got "
                         f"shape {tuple(o.shape)} for prompts {tuple(p.shape)}")
    return o[:, p.shape[1]:].clone()


@threads()
def generate(model, prompts, *, new: int = BLOCK, decoding: str = "beam", beams: int = BEAMS,
             repetition_penalty: float = REPETITION_PENALTY, batch: int | None = 128, seed: int = 0,
             desc: str = "writing"):
    """Exactly ``new`` tokens after each prompt of ``prompts`` (n, L): shape (n, new), int64.

    ``decoding='beam'``: ``beams``-way beam search (deterministic); ``'sample'``: ancestral sampling from the
    model's full distribution (temperature 1, no top-k or top-p). ``repetition_penalty`` (>= 1, 1 = none) divides
    the scores of tokens already in the prompt or the continuation (Keskar et al. 2019, as in ``transformers``).
    End-of-sequence is suppressed until ``new`` tokens are written, so every continuation is a full block.
    """
    torch = _torch()
    p = _blocks_tensor(prompts, "prompts")
    new, beams = _int("new", new, 1), _int("beams", beams, 1)
    if not isinstance(decoding, str) or decoding not in DECODINGS:
        raise ValueError(f"decoding must be one of {DECODINGS}; got {decoding!r}")
    repetition_penalty = _num("repetition_penalty", repetition_penalty, 1.0)
    seed = _int("seed", seed, 0, 2**43)  # each batch seeds torch with seed * 1_000_003 + i, a 64-bit int
    dev = _model_for(model, p, "prompts")
    batch = lm.gen_batch(model, batch, beams=beams if decoding == "beam" else 1, new=new, prompt=p.shape[1])
    cfg = model.config
    kw = dict(max_new_tokens=new, min_new_tokens=new, repetition_penalty=repetition_penalty,
              pad_token_id=cfg.pad_token_id, eos_token_id=cfg.eos_token_id, bos_token_id=cfg.bos_token_id)
    if decoding == "beam":
        kw.update(do_sample=False, num_beams=beams, early_stopping=True, length_penalty=1.0)
    else:
        kw.update(do_sample=True, num_beams=1, top_k=0, top_p=1.0, temperature=1.0)
    idx = list(range(len(p)))
    acc = _accelerator()
    if acc is not None:
        idx = idx[acc.process_index::acc.num_processes]
    out = []
    model.eval()
    with torch.no_grad():
        for i in progress(range(0, len(idx), batch), desc=desc):
            # one seed per batch: a run is reproducible, whatever ran before it in the process
            torch.manual_seed(seed * 1_000_003 + i)
            pb = p[idx[i:i + batch]].to(dev)
            rows = len(pb) * (beams if decoding == "beam" else 1)
            with _autocast(dev):
                o = model.generate(input_ids=pb, attention_mask=torch.ones_like(pb),
                                   **_cache_kw(model, rows, pb.shape[1] + new), **kw)
            out.append(lm.continuations(o.cpu(), pb.cpu(), new))
    c = torch.cat(out) if out else torch.empty(0, new, dtype=torch.long)
    if acc is not None:
        from accelerate.utils import gather_object

        parts = gather_object([(idx, c)])
        c = torch.empty(len(p), new, dtype=torch.long)
        for ii, cc in parts:
            c[ii] = cc
    return c


#: the most memory (bytes) the key/value buffers of one ``generate`` call may take; larger calls use the library's
#: own cache (same tokens, more copying)
CACHE_BYTES = 1 << 30


def _cache_kw(model, rows: int, length: int) -> dict:
    """``generate``'s ``cache=`` argument: a key/value cache that copies less, when it fits, else nothing (the
    library's default cache).

    The library's cache grows by concatenation, so every new token copies the whole cache into a fresh tensor,
    and beam search then copies it once more to reorder the beams. This one writes into two buffers allocated once
    per call, in turn: the beams' reordering is deferred to the next write, which gathers the kept rows and
    appends the new token in one copy. The tensors the attention reads hold the same numbers, contiguous and of
    the same shape, so the generated tokens are identical; it only saves time. CPU only: on a GPU the second
    buffer would take memory that ``gen_batch`` gives to more prompts.
    """
    torch = _torch()
    c = model.config
    layers, heads = getattr(c, "num_hidden_layers", None), getattr(c, "num_attention_heads", None)
    width = getattr(c, "hidden_size", None)
    if next(model.parameters()).device.type != "cpu" or not all(isinstance(v, int) for v in (layers, heads, width)):
        return {}
    dtype = next(model.parameters()).dtype
    if 2 * 2 * layers * rows * length * width * dtype.itemsize > CACHE_BYTES:  # (keys, values) x 2 buffers
        return {}
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:  # an older or newer layout of the library: its own cache
        return {}
    cache = DynamicCache(config=c)
    if len(cache.layers) != layers or any(type(x) is not DynamicLayer for x in cache.layers):
        return {}
    cache.layers = [_buffered_layer(DynamicLayer, length) for _ in range(layers)]
    return {"cache": cache}


def _buffered_layer(base, capacity: int):
    """A ``DynamicLayer`` (class ``base``) holding at most ``capacity`` positions in two buffers (see _cache_kw)."""
    torch = _torch()

    class Buffered(base):
        def lazy_initialization(self, key_states, value_states):
            super().lazy_initialization(key_states, value_states)
            b, h, _, d = key_states.shape
            self.rows, self.buf, self.turn, self.pending = b * h * d, {}, 0, None
            for name, t in (("keys", key_states), ("values", value_states)):
                self.buf[name] = [torch.empty(b * h * capacity * d, dtype=t.dtype, device=t.device)
                                  for _ in range(2)]

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            old = self.get_seq_length()
            n = old + key_states.shape[-2]
            b, h, _, d = key_states.shape
            if n > capacity or b * h * d != self.rows:  # not what the buffers were sized for: grow as the library does
                self._apply_pending()
                return super().update(key_states, value_states, *args, **kwargs)
            nxt = 1 - self.turn
            for name, new in (("keys", key_states), ("values", value_states)):
                out = self.buf[name][nxt][:b * h * n * d].view(b, h, n, d)
                if old:  # the kept beams' rows in their new order (one gather), or the rows as they are
                    if self.pending is not None:
                        torch.index_select(getattr(self, name), 0, self.pending, out=out[:, :, :old])
                    else:
                        out[:, :, :old].copy_(getattr(self, name))
                out[:, :, old:].copy_(new)
                setattr(self, name, out)
            self.turn, self.pending = nxt, None
            return self.keys, self.values

        def reorder_cache(self, beam_idx):
            if self.get_seq_length() > 0:
                idx = beam_idx.to(self.keys.device)
                self.pending = idx if self.pending is None else self.pending[idx]

        # what else reads or reshapes the rows sees them in their current order
        def crop(self, tokens_to_remove):
            self._apply_pending()
            super().crop(tokens_to_remove)

        def batch_repeat_interleave(self, repeats):
            self._apply_pending()
            super().batch_repeat_interleave(repeats)

        def batch_select_indices(self, indices):
            self._apply_pending()
            super().batch_select_indices(indices)

        def _apply_pending(self):
            if self.pending is not None:
                self.keys = self.keys.index_select(0, self.pending)
                self.values = self.values.index_select(0, self.pending)
                self.pending = None

    return Buffered()
