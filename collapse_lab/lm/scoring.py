"""How likely a model finds text (token losses, perplexities), and how varied text is (distinct n-grams, repeats)."""
from __future__ import annotations

import numpy as np

from .. import lm, metrics
from ..validate import integer as _int
from .devices import _autocast, _model_for, _torch, threads
from .text import _blocks_tensor


@threads()
def token_losses(model, blocks, batch: int = 64) -> np.ndarray:
    """Per-token negative log-likelihoods (nats) of ``blocks`` (n, L): shape (n, L - 1), token 2..L of each block."""
    torch = _torch()
    x = _blocks_tensor(blocks)
    batch = _int("batch", batch, 1)
    dev = _model_for(model, x)
    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = x[i:i + batch].to(dev)
            with _autocast(dev):
                logits = model(input_ids=xb).logits
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            out.append(-logp.gather(-1, xb[:, 1:, None])[..., 0].cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def perplexity(model, blocks, batch: int = 64) -> float:
    """Corpus perplexity of ``blocks``: exp(mean per-token loss) over every predicted token."""
    return metrics.perplexity(lm.token_losses(model, blocks, batch))


def seq_perplexity(model, blocks, batch: int = 64) -> np.ndarray:
    """Perplexity of each block separately: exp(mean token loss of the block), shape (n,)."""
    return np.exp(lm.token_losses(model, blocks, batch).mean(axis=1))


def diversity(x) -> dict:
    """Vocabulary (distinct token ids) and distinct-n counts and shares (n = 2, 3, 4) of blocks ``x`` (n, L)."""
    rows = _blocks_tensor(x, "x").tolist()
    out = {"vocab": int(len({t for r in rows for t in r}))}
    for n in (2, 3, 4):
        count, share = metrics.distinct_n(rows, n)
        out[f"distinct_{n}"] = share
        out[f"distinct_{n}_count"] = count
    return out


def repeat_share(x, n: int = 4) -> float:
    """Mean over rows of ``x`` (n_rows, L) of the share of n-grams that already occurred earlier in the same row."""
    n = _int("n", n, 1)
    shares = []
    for r in _blocks_tensor(x, "x").tolist():
        grams = list(metrics.ngrams(r, n))
        shares.append(1 - len(set(grams)) / len(grams) if grams else 0.0)
    return float(np.mean(shares))
