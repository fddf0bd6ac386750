"""Text a model writes: exactly 64 new tokens after each prompt, by beam search or ancestral sampling."""
from __future__ import annotations

from .. import lm
from ..runtime import progress
from ..validate import flag as _flag, integer as _int, number as _num
from . import kvcache
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
             desc: str = "writing", fast: bool = True):
    """Exactly ``new`` tokens after each prompt of ``prompts`` (n, L): shape (n, new), int64.

    ``decoding='beam'``: ``beams``-way beam search (deterministic); ``'sample'``: ancestral sampling from the
    model's full distribution (temperature 1, no top-k or top-p). ``repetition_penalty`` (>= 1, 1 = none) lowers
    the score (logit) of every token already in the prompt or the continuation: a positive score is divided by it, a
    negative one multiplied (Keskar et al. 2019, as in ``transformers``), so the token always becomes less likely.
    End-of-sequence is suppressed until ``new`` tokens are written, so every continuation is a full block.

    ``fast``: write through the course's key/value cache (:mod:`collapse_lab.lm.kvcache`, CPU only, where this
    machine's transformers passes its check); False: the library's own ``generate`` path. The tokens are the same.
    """
    torch = _torch()
    p = _blocks_tensor(prompts, "prompts")
    new, beams = _int("new", new, 1), _int("beams", beams, 1)
    if not isinstance(decoding, str) or decoding not in DECODINGS:
        raise ValueError(f"decoding must be one of {DECODINGS}; got {decoding!r}")
    repetition_penalty = _num("repetition_penalty", repetition_penalty, 1.0)
    fast = _flag("fast", fast)
    seed = _int("seed", seed, 0, 2**43)  # each batch seeds torch with seed * 1_000_003 + i, a 64-bit int
    dev = _model_for(model, p, "prompts")
    batch = lm.gen_batch(model, batch, beams=beams if decoding == "beam" else 1, new=new, prompt=p.shape[1])
    # the fast path only where this machine's transformers writes the same tokens through it (checked once)
    write = kvcache.write if fast and kvcache.agrees() else kvcache.plain
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
            with _autocast(dev):
                o = write(model, pb, kw)
            out.append(lm.continuations(o.cpu(), pb.cpu(), new))
    c = torch.cat(out) if out else torch.empty(0, new, dtype=torch.long)
    if acc is not None:
        from accelerate.utils import gather_object

        parts = gather_object([(idx, c)])
        c = torch.empty(len(p), new, dtype=torch.long)
        for ii, cc in parts:
            c[ii] = cc
    return c
