"""Training a causal language model on blocks of token ids: the package's base once, every generation after."""
from __future__ import annotations

import copy
import math

from .. import lm
from ..runtime import progress
from ..validate import integer as _int, number as _num
from .devices import _accelerator, _autocast, _model_for, _nocast, _torch, threads
from .text import _blocks_tensor


@threads()
def train(model, blocks, *, epochs: int, batch: int, lr: float, seed: int = 0, desc: str = "fine-tuning",
          warmup: float = 0.0):
    """Train ``model`` in place on ``blocks`` (n, L) of token ids with next-token cross-entropy; returns ``model``.

    ``epochs`` passes over the blocks in a seeded random order, mini-batches of ``batch`` blocks, AdamW with
    learning rate ``lr`` warmed up over the first ``warmup`` fraction of steps and decayed linearly to 0.
    """
    torch = _torch()
    x = _blocks_tensor(blocks)
    epochs, batch = _int("epochs", epochs, 1), _int("batch", batch, 1)
    lr = _num("lr", lr, 0, lo_open=True)
    warmup = _num("warmup", warmup, 0, 1, hi_open=True)
    seed = _int("seed", seed, 0, 2**63 - 1)  # torch's seeds are 64-bit
    dev = _model_for(model, x)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    per_epoch = math.ceil(len(x) / batch)
    total = epochs * per_epoch
    n_warm = int(warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: (i + 1) / n_warm if i < n_warm else max(0.0, (total - i) / max(1, total - n_warm)))
    batches = [x[p[i:i + batch]] for _ in range(epochs) for p in [torch.randperm(len(x), generator=g)]
               for i in range(0, len(x), batch)]
    acc = _accelerator()
    if acc is not None:  # data parallel: each process takes every k-th batch, the same number on every process
        model, opt = acc.prepare(model, opt)
        k = acc.num_processes
        batches = batches[: len(batches) - len(batches) % k][acc.process_index::k]
        dev = acc.device
    model.train()
    bar = progress(batches, desc=desc)
    # mixed precision on CUDA only (accelerate brings its own); fp16 needs its loss scaled, bf16 does not
    amp = lm.amp_dtype(dev) if acc is None else None
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    for xb in bar:
        xb = xb.to(dev)
        with _autocast(dev) if amp is not None else _nocast():
            loss = model(input_ids=xb, labels=xb).loss
        if acc is not None:
            acc.backward(loss)
        elif scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
        else:
            loss.backward()
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    if acc is not None:
        model = acc.unwrap_model(model)
    return model.eval()


def finetune(base, blocks, *, epochs: int, batch: int = 32, lr: float = 6e-4, seed: int = 0,
             desc: str | None = None):
    """A fresh copy of ``base`` trained on ``blocks`` (n, L) for ``epochs`` epochs: ``base`` itself is unchanged."""
    if desc is not None and not isinstance(desc, str):
        raise TypeError(f"desc must be a str (the progress bar's label) or None; got {desc!r:.60}")
    _int("seed", seed, 0, 2**63 - 1)  # before the copy of the model
    return lm.train(copy.deepcopy(base), blocks, epochs=epochs, batch=batch, lr=lr, seed=seed,
                    desc=desc or f"fine-tuning {epochs} ep.")
