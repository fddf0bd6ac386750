"""Where torch runs: on CPU threads for the course; at paper scale, on GPUs with mixed precision, generation batches
sized to the free memory, and several processes.

Under ``accelerate launch`` (``WORLD_SIZE`` > 1) ``lm.train`` wraps model, optimiser and batches with
``accelerate.Accelerator`` (data parallel) and ``lm.generate`` splits the prompts between processes and gathers
the continuations; everything else is the single-process code, and only the main process writes files.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from .. import lm
from ..validate import integer as _int


def _torch():
    import torch

    return torch


THREADS_ENV = "COLLAPSE_LAB_THREADS"


@contextmanager
def threads():
    """Run torch on ``$COLLAPSE_LAB_THREADS`` CPU threads (default 1) inside the block, then restore the setting.

    Why one: width-128 matrices are too small to split. Measured on the course's shared 2-core machine, one thread
    trained at about 9,800 tokens/s and two at 3,000-3,800 (the second thread waits for a busy core).
    """
    torch = _torch()
    old = torch.get_num_threads()
    want = os.environ.get(THREADS_ENV, "").strip()
    n = int(want) if want.isdigit() and int(want) > 0 else 1
    torch.set_num_threads(min(n, old))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def amp_dtype(dev) -> object:
    """The autocast dtype on ``dev``: bf16 on a CUDA GPU that supports it, else fp16 on CUDA; None (float32) on
    CPU, where the course's numbers are computed. ``$COLLAPSE_LAB_AMP=0`` turns mixed precision off."""
    torch = _torch()
    try:
        dev = torch.device(dev)
    except (TypeError, RuntimeError, ValueError):
        raise ValueError(f"dev must be a torch device or a name such as 'cpu' or 'cuda:0'; got {dev!r:.60}") from None
    if dev.type != "cuda" or os.environ.get("COLLAPSE_LAB_AMP", "1").strip() == "0":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(dev):
    from contextlib import nullcontext

    dt = lm.amp_dtype(dev)
    return nullcontext() if dt is None else _torch().autocast(device_type="cuda", dtype=dt)


def _nocast():
    from contextlib import nullcontext

    return nullcontext()


def gen_batch(model, batch, *, beams: int = 5, new: int = 64, prompt: int = 64, cap: int = 1024) -> int:
    """Prompts per ``generate`` call: ``batch`` when given; None = as many as the free GPU memory holds.

    Per prompt, beam search keeps ``beams`` sequences with a key/value cache of ``2 x layers x width x (prompt +
    new)`` numbers each, and one row of logits (vocabulary) per beam; half the free memory is budgeted, the rest
    left to activations and fragmentation. On CPU (no CUDA) None means 64.
    """
    if batch is not None:
        return _int("batch", batch, 1)
    torch = _torch()
    dev = next(model.parameters()).device
    if dev.type != "cuda":
        return 64
    free, _ = torch.cuda.mem_get_info(dev)
    c = model.config
    size = 2 if lm.amp_dtype(dev) is not None else 4
    per_prompt = beams * (2 * c.num_hidden_layers * c.hidden_size * (prompt + new) + 2 * c.vocab_size) * size
    return int(max(1, min(cap, free // 2 // per_prompt)))


def _accelerator():
    """An ``accelerate.Accelerator`` under ``accelerate launch`` with several processes, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import Accelerator

    return Accelerator()


def main_process() -> bool:
    """True unless this is a non-main process of an ``accelerate launch`` run."""
    return int(os.environ.get("RANK", "0")) == 0


def _model_for(model, x=None, name="blocks", *, model_name="model"):
    """Check that ``model`` is a causal language model (a torch module with ``config.vocab_size``) and that the
    token ids in ``x`` fit its vocabulary; return the device its parameters live on."""
    torch = _torch()
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if not isinstance(model, torch.nn.Module) or not isinstance(vocab, int):
        raise TypeError(f"{model_name} must be a causal language model (e.g. from lm.load_base() or "
                        f"lm.finetune()); got {type(model).__name__}")
    if x is not None and x.numel() and (int(x.min()) < 0 or int(x.max()) >= vocab):
        raise ValueError(f"{name} must hold token ids in [0, {vocab}) for this model's vocabulary; got ids from "
                         f"{int(x.min())} to {int(x.max())}")
    return next(model.parameters()).device
