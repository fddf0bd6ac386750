"""Chapter 4: model collapse of a language model (OPT) fine-tuned on WikiText-2, generation after generation.

The paper's headline experiment (Shumailov et al., Nature 2024, Fig. 1): OPT-125m is fine-tuned on WikiText-2;
every later generation fine-tunes the *same pretrained base* on text written by the previous generation.

One code path, three sizes (``SIZES``):

- ``paper``: ``facebook/opt-125m`` and its tokenizer through ``from_pretrained``; the WikiText-2 train split for
  fine-tuning and its test split for evaluation (network, GPU expected). ``$COLLAPSE_LAB_LM_BASE`` may name another
  model folder or hub id to use instead (the tests point it at a tiny local OPT).
- ``quick`` / ``standard``: the same class, ``OPTForCausalLM``, with a small ``OPTConfig`` and a byte-level BPE
  tokenizer trained with ``tokenizers``. The package "pretrains" this base itself on real text, once per machine, and
  saves it with ``save_pretrained`` into ``$COLLAPSE_LAB_CACHE`` (default ``~/.cache/collapse-lab``), in a folder keyed
  by a hash of its config, training sizes, trainer code and library versions (:func:`base_spec`); every notebook and test then loads it with the same
  ``from_pretrained`` call as the paper profile (:func:`load_base`).

Offline data roles (``../shared/data/wikitext-2`` holds only the valid and test splits): the first half of ``valid``
trains the tokenizer and pretrains the base; blocks of the second half are the "real" fine-tuning data; blocks of
``test`` measure test perplexity. Base, fine-tuning and test text never overlap.

Protocol (the paper's): text is cut into 64-token blocks. Generation 0 fine-tunes the base on the real blocks. The
fine-tuned model of generation n-1 is prompted with each real block and writes exactly 64 new tokens (5-way beam
search by default); those continuations form generation n's training set, the same size as the real one, on which
the base is fine-tuned again. Setting (a): 5 epochs, no real data (``replace``). Setting (b): 10 epochs, a random
10% of the real blocks re-drawn every generation (the loop's ``mix`` policy).

Decisions where the paper is silent: the repetition penalty defaults to 2.0 (the paper's text; its code used 3.0,
:func:`ablation` measures both); "test perplexity" is the corpus perplexity exp(mean token loss) over the test blocks;
fine-tuning uses AdamW with a linear decay to zero, dropout 0.1 (OPT's); sampling means pure ancestral sampling
(temperature 1, no top-k / top-p).

Paper scale on several GPUs (untested here: no GPU, no network, no ``accelerate`` in the course's environment)::

    pip install -e .[paper]
    accelerate config                      # once
    accelerate launch -m collapse_lab.cli run lm --profile paper --setting a --generations 10 --out runs/lm-a

Under ``accelerate launch`` (``WORLD_SIZE`` > 1) :func:`train` wraps model, optimiser and batches with
``accelerate.Accelerator`` (data parallel) and :func:`generate` splits the prompts between processes and gathers
the continuations; everything else is the single-process code, and only the main process writes files.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from . import data, loop, metrics, profiles
from .runtime import as_rng, device, progress, seed_all
from .validate import integer as _int, number as _num

BLOCK = 64  # tokens per block: the paper's prompt length and number of new tokens
CACHE_ENV, BASE_ENV = "COLLAPSE_LAB_CACHE", "COLLAPSE_LAB_LM_BASE"
WIKITEXT_ENV = "COLLAPSE_LAB_WIKITEXT"  # paper / gpu profiles: hub id or local folder of the raw WikiText-2
WIKITEXT_CONFIG = "wikitext-2-raw-v1"
PAPER_BASE = "facebook/opt-125m"

# base: a hub id / folder to load (paper), or None = the package's own base built from `model` and `pretrain`.
SIZES = {
    "quick": dict(base=None, model=dict(layers=2, width=128, heads=4, vocab=2048),
                  pretrain=dict(epochs=3, lr=2e-3, batch=32), n_train=96, n_test=128, generations=3,
                  batch=32, lr=6e-4, gen_batch=128, n_samples=2, n_ablation=48),
    # the same base as quick (one cached folder for both), more real blocks and generations
    "standard": dict(base=None, model=dict(layers=2, width=128, heads=4, vocab=2048),
                     pretrain=dict(epochs=3, lr=2e-3, batch=32), n_train=192, n_test=256, generations=5,
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


def amp_dtype(dev) -> object:
    """The autocast dtype on ``dev``: bf16 on a CUDA GPU that supports it, else fp16 on CUDA; None (float32) on
    CPU, where the course's numbers are computed. ``$COLLAPSE_LAB_AMP=0`` turns mixed precision off."""
    torch = _torch()
    dev = torch.device(dev)
    if dev.type != "cuda" or os.environ.get("COLLAPSE_LAB_AMP", "1").strip() == "0":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(dev):
    from contextlib import nullcontext

    dt = amp_dtype(dev)
    return nullcontext() if dt is None else _torch().autocast(device_type="cuda", dtype=dt)


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
    size = 2 if amp_dtype(dev) is not None else 4
    per_prompt = beams * (2 * c.num_hidden_layers * c.hidden_size * (prompt + new) + 2 * c.vocab_size) * size
    return int(max(1, min(cap, free // 2 // per_prompt)))


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






def _blocks_tensor(x, name="blocks"):
    """``x`` as a (n, L) int64 CPU tensor of token ids."""
    torch = _torch()
    if isinstance(x, np.ndarray) or isinstance(x, list):
        x = torch.as_tensor(np.asarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a (n, L) array or tensor of token ids; got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] < 2 or x.is_floating_point() or x.dtype == torch.bool:
        raise ValueError(f"{name} must be a non-empty (n, L >= 2) integer array of token ids; got shape "
                         f"{tuple(x.shape)}, dtype {x.dtype}")
    return x.long().cpu()


def _model_for(model, x=None, name="blocks"):
    """Check that ``model`` is a causal language model (a torch module with ``config.vocab_size``) and that the
    token ids in ``x`` fit its vocabulary; return the device its parameters live on."""
    torch = _torch()
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if not isinstance(model, torch.nn.Module) or not isinstance(vocab, int):
        raise TypeError(f"model must be a causal language model (e.g. from lm.base() or lm.finetune()); got "
                        f"{type(model).__name__}")
    if x is not None and x.numel() and (int(x.min()) < 0 or int(x.max()) >= vocab):
        raise ValueError(f"{name} must hold token ids in [0, {vocab}) for this model's vocabulary; got ids from "
                         f"{int(x.min())} to {int(x.max())}")
    return next(model.parameters()).device


# ---------------------------------------------------------------------------------------------------------------
# text -> token ids -> 64-token blocks


def blocks(ids, size: int = BLOCK) -> np.ndarray:
    """Pack a 1-D sequence of token ids into consecutive blocks: shape (len(ids) // size, size), int64.

    The remainder (fewer than ``size`` trailing tokens) is dropped, as in Hugging Face's ``group_texts``.
    """
    size = _int("size", size, 1)
    a = np.asarray(ids)
    if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"ids must be a 1-D sequence of integer token ids; got shape {a.shape}, dtype {a.dtype}")
    n = a.size // size
    return a[: n * size].astype(np.int64).reshape(n, size)


def spread(x, n: int | None):
    """``n`` rows of ``x`` evenly spaced over it (all rows when ``n`` is None): a fixed, seed-free subset."""
    if n is None or n >= len(x):
        return x
    n = _int("n", n, 1)
    return x[np.linspace(0, len(x) - 1, n).round().astype(int)]


def train_tokenizer(text: str, vocab: int):
    """A byte-level BPE tokenizer with ``vocab`` entries trained on ``text``, wrapped for ``save_pretrained``.

    Special tokens follow OPT's ids: ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2 (OPT's bos and eos), ``<unk>`` 3.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty str")
    vocab = _int("vocab", vocab, 260, 1_000_000)  # 256 bytes + the 4 special tokens; OPT itself has 50,272
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(_chunks(text), vocab_size=vocab, min_frequency=2,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>"], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="</s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def _chunks(text, lines=200):
    rows = text.splitlines(keepends=True)
    return ["".join(rows[i:i + lines]) for i in range(0, len(rows), lines)]


def encode(tok, text: str) -> np.ndarray:
    """Token ids (1-D int64) of ``text``, without special tokens, encoded a few hundred lines at a time.

    Cutting at line ends gives the same ids as encoding the whole text: BPE merges never cross a newline here.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    if not callable(tok):
        raise TypeError(f"tok must be a tokenizer (callable on a list of str); got {type(tok).__name__}")
    parts = tok(_chunks(text), add_special_tokens=False)["input_ids"] if text else []
    return np.fromiter((i for p in parts for i in p), dtype=np.int64)


# ---------------------------------------------------------------------------------------------------------------
# the base model: the package's own (quick, standard) or a pretrained one (paper), both through from_pretrained


def cache_dir() -> Path:
    """Where the package's base models are kept: ``$COLLAPSE_LAB_CACHE`` or ``~/.cache/collapse-lab``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "collapse-lab")


def config(model: dict):
    """The small ``OPTConfig`` of the package's base: ``model`` = dict(layers, width, heads, vocab)."""
    from transformers import OPTConfig

    if not isinstance(model, dict) or set(model) != {"layers", "width", "heads", "vocab"}:
        raise ValueError(f"model must be a dict with keys layers, width, heads, vocab; got {model!r}")
    return OPTConfig(vocab_size=model["vocab"], hidden_size=model["width"], word_embed_proj_dim=model["width"],
                     num_hidden_layers=model["layers"], num_attention_heads=model["heads"],
                     ffn_dim=4 * model["width"], max_position_embeddings=2 * BLOCK, dropout=0.1,
                     attention_dropout=0.0, pad_token_id=1, bos_token_id=2, eos_token_id=2)


#: bumped by hand when the base's training changes in a way its source does not show (e.g. another data role)
TRAINER_VERSION = 2
#: the functions whose code shapes the package's base: their source (without docstrings) is part of its cache key
TRAINER_CODE = ("ensure_base", "train", "train_tokenizer", "config", "encode", "blocks", "_chunks", "_half")


def trainer_code() -> str:
    """A hash of the code that trains the package's base: the functions named in ``TRAINER_CODE`` (looked up in
    this module when called), parsed and stripped of docstrings, so comments and formatting do not count."""
    import ast
    import inspect
    import textwrap

    h = hashlib.sha256()
    for name in TRAINER_CODE:
        tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(globals()[name]))))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        tree.body[0].name = name  # the code counts, not what the function object happens to be called
        h.update(f"{name}:{ast.dump(tree)}".encode())
    return h.hexdigest()[:16]


def base_spec(s: SimpleNamespace) -> dict:
    """Everything that shapes a package base of sizes ``s``: model config, pretraining sizes, data roles, the
    trainer's code (:func:`trainer_code`, ``TRAINER_VERSION``) and the torch / transformers / tokenizers versions."""
    import tokenizers
    import transformers

    return {"model": s.model, "pretrain": s.pretrain, "block": BLOCK, "text": "wikitext-2 valid, first half",
            "version": TRAINER_VERSION, "code": trainer_code(), "torch": _torch().__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}


def base_key(s: SimpleNamespace) -> str:
    """Folder name of a package base: ``opt-<hash of>`` :func:`base_spec` ``(s)``.

    Any change to the config, the pretraining sizes, the trainer's code or the library versions names another
    folder, so a base trained by older code or other libraries is never reused.
    """
    spec = base_spec(s)
    return "opt-" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def base_source(profile=None) -> str:
    """What :func:`load_base` passes to ``from_pretrained``: a hub id or a folder.

    ``paper``: ``$COLLAPSE_LAB_LM_BASE`` or ``facebook/opt-125m``; ``quick``/``standard``: the cache folder of the
    package's base (:func:`ensure_base` fills it).
    """
    s = sizes(profile)
    if s.base is not None:
        return os.environ.get(BASE_ENV) or s.base
    return str(cache_dir() / base_key(s))


def ensure_base(profile=None) -> str:
    """The folder of the package's base for ``profile``, pretrained and saved there first if it is missing.

    Training happens once per machine (30-70 s in the quick profile on 2 cores), always with seed 0; notebooks and
    tests share the folder. A finished base is moved into place in one rename, so a concurrent run never sees half
    a model.
    """
    s = sizes(profile)
    if s.base is not None:
        return base_source(profile)
    path = Path(base_source(profile))
    if (path / "config.json").is_file() and (path / "tokenizer.json").is_file():
        return str(path)
    torch = _torch()
    from transformers import OPTForCausalLM

    print(f"No cached base model yet: pretraining one (once per machine) into {path}")
    t0 = time.perf_counter()
    seed = 0
    text = data.wikitext("valid")
    half = _half(text)
    tok = train_tokenizer(text[:half], s.model["vocab"])
    x = blocks(encode(tok, text[:half]))
    seed_all(seed)
    model = OPTForCausalLM(config(s.model))
    p = s.pretrain
    train(model, torch.as_tensor(x), epochs=p["epochs"], batch=p["batch"], lr=p["lr"], seed=seed,
          desc=f"pretraining the {profile or s.profile} base (once per machine)", warmup=0.05)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "collapse_lab.json").write_text(json.dumps(
        {**base_spec(s), "tokens": int(x.size), "seconds": time.perf_counter() - t0}, indent=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(path)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return str(path)


def _half(text: str) -> int:
    """Character index of the first line break after the middle of ``text``."""
    i = text.find("\n", len(text) // 2)
    return len(text) if i < 0 else i + 1


def load(source: str):
    """``(model, tokenizer)`` from a folder or hub id with ``from_pretrained``: float32, eval mode, on the device."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a folder or a hub id (str); got {type(source).__name__}")
    torch = _torch()
    from transformers import AutoTokenizer, OPTForCausalLM

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the course shows its own bars; "Loading weights" bars only add noise
    dev = device()
    if dev == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under accelerate launch: this process's GPU
        dev = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    model = OPTForCausalLM.from_pretrained(source, dtype=torch.float32).to(dev).eval()
    tok = AutoTokenizer.from_pretrained(source)
    return model, tok


def load_base(profile=None):
    """``(model, tokenizer)`` of the profile's base, pretrained first when it is not cached yet (quick/standard)."""
    return load(ensure_base(profile))


# ---------------------------------------------------------------------------------------------------------------
# data of the chapter


def paper_text(split: str) -> str:
    """WikiText-2 split ``'train'``, ``'valid'`` or ``'test'`` for the pretrained-base profiles, as one string.

    With ``$COLLAPSE_LAB_WIKITEXT`` set (a hub id such as ``Salesforce/wikitext``, or a local folder laid out as
    that hub data set: ``README.md`` naming the configs, ``wikitext-2-raw-v1/{train,validation,test}-*.parquet``)
    the raw text is read with ``datasets.load_dataset(source, "wikitext-2-raw-v1", split=...)``, the paper's
    data set; otherwise :func:`collapse_lab.data.wikitext` (local files first, then the same hub data set).
    """
    if split not in data.WIKITEXT_SPLITS:
        raise ValueError(f"split must be one of {data.WIKITEXT_SPLITS}; got {split!r}")
    src = os.environ.get(WIKITEXT_ENV, "").strip()
    if not src:
        return data.wikitext(split)
    try:
        from datasets import load_dataset
    except ImportError:
        raise ImportError(f"${WIKITEXT_ENV}={src!r} needs the `datasets` package: pip install -e .[paper]") from None
    hf_split = {"valid": "validation"}.get(split, split)
    return "".join(load_dataset(src, WIKITEXT_CONFIG, split=hf_split)["text"])


def corpus(tok, profile=None) -> SimpleNamespace:
    """The real fine-tuning blocks ``train`` (n_train, 64) and the test blocks ``test`` (n_test, 64), int64 tensors.

    quick/standard: ``train`` from the second half of WikiText-2 valid, ``test`` from test, both evenly spread over
    their text; paper: every block of the train and test splits.
    """
    torch = _torch()
    s = sizes(profile)
    if s.base is None:
        text = data.wikitext("valid")
        real = blocks(encode(tok, text[_half(text):]))
        test = blocks(encode(tok, data.wikitext("test")))
    else:
        real = blocks(encode(tok, paper_text("train")))
        test = blocks(encode(tok, paper_text("test")))
    return SimpleNamespace(train=torch.as_tensor(spread(real, s.n_train)),
                           test=torch.as_tensor(spread(test, s.n_test)))


_LOADED: dict = {}


def setup(profile=None) -> tuple:
    """``(base, tok, corpus)`` of ``profile``, loaded once per process (the base is never trained in place).

    :func:`chain` and :func:`experiment` use it, so a notebook comparing several chains loads everything once.
    """
    s = sizes(profile)
    key = (s.profile, base_source(s.profile), os.environ.get("COLLAPSE_LAB_DATA", ""),
           os.environ.get(WIKITEXT_ENV, ""))
    if key not in _LOADED:
        base, tok = load_base(s.profile)
        _LOADED[key] = (base, tok, corpus(tok, s.profile))
    return _LOADED[key]


# ---------------------------------------------------------------------------------------------------------------
# training, scoring, generating


def _accelerator():
    """An ``accelerate.Accelerator`` under ``accelerate launch`` with several processes, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import Accelerator

    return Accelerator()


def main_process() -> bool:
    """True unless this is a non-main process of an ``accelerate launch`` run."""
    return int(os.environ.get("RANK", "0")) == 0


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
    amp = amp_dtype(dev) if acc is None else None
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


def _nocast():
    from contextlib import nullcontext

    return nullcontext()


def finetune(base, blocks, *, epochs: int, batch: int = 32, lr: float = 6e-4, seed: int = 0,
             desc: str | None = None):
    """A fresh copy of ``base`` trained on ``blocks`` (n, L) for ``epochs`` epochs: ``base`` itself is unchanged."""
    return train(copy.deepcopy(base), blocks, epochs=epochs, batch=batch, lr=lr, seed=seed,
                 desc=desc or f"fine-tuning {epochs} ep.")


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
    return metrics.perplexity(token_losses(model, blocks, batch))


def seq_perplexity(model, blocks, batch: int = 64) -> np.ndarray:
    """Perplexity of each block separately: exp(mean token loss of the block), shape (n,)."""
    return np.exp(token_losses(model, blocks, batch).mean(axis=1))


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
    dev = _model_for(model, p, "prompts")
    batch = gen_batch(model, batch, beams=beams if decoding == "beam" else 1, new=new, prompt=p.shape[1])
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
                o = model.generate(input_ids=pb, attention_mask=torch.ones_like(pb), **kw)
            out.append(continuations(o.cpu(), pb.cpu(), new))
    c = torch.cat(out) if out else torch.empty(0, new, dtype=torch.long)
    if acc is not None:
        from accelerate.utils import gather_object

        parts = gather_object([(idx, c)])
        c = torch.empty(len(p), new, dtype=torch.long)
        for ii, cc in parts:
            c[ii] = cc
    return c


# ---------------------------------------------------------------------------------------------------------------
# the generational chain


def family(base, prompts, *, epochs: int, batch: int, lr: float, decoding: str = "beam",
           repetition_penalty: float = REPETITION_PENALTY, gen_batch: int = 128, state: dict | None = None):
    """The language-model family for :func:`collapse_lab.loop.run`.

    ``fit(blocks, rng)``: a fresh copy of ``base`` fine-tuned on ``blocks`` (n, 64) for ``epochs`` epochs.
    ``sample(model, n, rng)``: ``n`` new 64-token blocks: ``model`` continues ``n`` of the ``prompts`` (the real
    blocks; all of them, in order, when ``n == len(prompts)``, else a random subset), by ``decoding``.
    ``state`` (optional dict) receives the last synthetic set under ``"sample"``, for the metrics.
    """
    prompts = _blocks_tensor(prompts, "prompts")
    _int("epochs", epochs, 1), _int("batch", batch, 1), _num("lr", lr, 0, lo_open=True)
    if decoding not in DECODINGS:
        raise ValueError(f"decoding must be one of {DECODINGS}; got {decoding!r}")
    _num("repetition_penalty", repetition_penalty, 1.0)
    state = {} if state is None else state

    def fit(x, rng):
        return finetune(base, x, epochs=epochs, batch=batch, lr=lr, seed=int(rng.integers(2**31)))

    def sample(model, n, rng):
        n = _int("n", n, 0)
        if n > len(prompts):
            raise ValueError(f"n must be <= the number of prompts {len(prompts)}; got {n}")
        pick = np.arange(n) if n == len(prompts) else np.sort(rng.choice(len(prompts), n, replace=False))
        out = generate(model, prompts[pick], decoding=decoding, repetition_penalty=repetition_penalty,
                       batch=gen_batch, seed=int(rng.integers(2**31)), desc=f"writing ({decoding})")
        state["sample"] = out
        return out

    return loop.Family(fit=fit, sample=sample, name=f"OPT ({decoding})")


def diversity(x) -> dict:
    """Vocabulary (distinct token ids) and distinct-n counts and shares (n = 2, 3, 4) of blocks ``x`` (n, L)."""
    rows = _blocks_tensor(x).tolist()
    out = {"vocab": int(len({t for r in rows for t in r}))}
    for n in (2, 3, 4):
        count, share = metrics.distinct_n(rows, n)
        out[f"distinct_{n}"] = share
        out[f"distinct_{n}_count"] = count
    return out


def chain(setting: str = "a", *, generations: int | None = None, seed: int = 0, profile=None,
          decoding: str = "beam", repetition_penalty: float = REPETITION_PENALTY, policy=None, epochs=None,
          keep=(), callback=None, start=None, rng=None, ref=None, seq_ppl=None, parts=None) -> loop.History:
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

    Columns: ``test_ppl`` = ``distance`` (perplexity of the real test blocks), ``train_ppl_*`` (summaries of the
    per-block perplexities of the generation's training data under the generation-0 model; every value in
    ``meta['seq_ppl']``), and :func:`diversity` of the text the generation was trained on (gen 0: the real text;
    later: what the previous generation wrote). ``history.models[0]`` is the generation-0 model.
    """
    s = sizes(profile)
    setting = _setting(setting)
    gens = s.generations if generations is None else _int("generations", generations, 0)
    seed = _int("seed", seed, 0)
    if parts is not None and (not isinstance(parts, tuple) or len(parts) != 3):
        raise TypeError("parts must be a tuple (base, tok, corpus), e.g. lm.setup(profile)")
    base, tok, c = parts if parts is not None else setup(s.profile)
    st = SETTINGS[setting]
    epochs = st["epochs"] if epochs is None else _int("epochs", epochs, 1)
    pol = loop.policy(st["policy"] if policy is None else policy)
    state: dict = {}
    fam = family(base, c.train, epochs=epochs, batch=s.batch, lr=s.lr, decoding=decoding,
                 repetition_penalty=repetition_penalty, gen_batch=s.gen_batch, state=state)
    holder = {"ref": ref}
    seq = {} if seq_ppl is None else seq_ppl
    if start is not None and ref is None:
        raise ValueError("resuming (start=...) needs ref=, the generation-0 model")

    def test_ppl(model, train):
        return perplexity(model, c.test)

    def train_ppl(model, train):
        if holder["ref"] is None:  # generation 0 scores every later training set
            holder["ref"] = model
        v = seq_perplexity(holder["ref"], train)
        holder["seq"] = v.tolist()
        return {"mean": v.mean(), "median": np.median(v), "p05": np.quantile(v, 0.05), "p95": np.quantile(v, 0.95)}

    def text(model, train):
        return diversity(state.pop("sample", c.train))

    def after(g, model, h):
        r = h.rows[-1]
        for k in [k for k in r if k.startswith("text_")]:
            r[k[5:]] = r.pop(k)
        r["distance"] = r["test_ppl"]
        seq[g] = holder.pop("seq")
        if callback is not None:
            callback(g, model, h)

    seed_all(seed)
    rng = as_rng(seed) if rng is None else rng
    label = st["label"] if policy is None else f"{pol!r}, {epochs} epochs"
    h = loop.run(fam, c.train, gens, policy=pol, seed=rng, keep=keep, callback=after, start=start,
                 metrics={"test_ppl": test_ppl, "train_ppl": train_ppl, "text": text},
                 desc=f"{label} · {decoding}")
    h.meta.update({"setting": setting, "decoding": decoding, "repetition_penalty": repetition_penalty,
                   "epochs": epochs, "profile": s.profile, "seed": seed, "seq_ppl": seq, "label": label})
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
    h = chain(m["setting"], generations=gens, seed=seed, profile=m["profile"], decoding=decoding,
              repetition_penalty=repetition_penalty, epochs=m["epochs"], start=(0, m0, []), ref=m0,
              seq_ppl={0: m["seq_ppl"][0]}, parts=parts)
    out = loop.History(history.rows[:1] + h.rows, meta=h.meta)
    out.models[0] = m0
    return out


def _setting(setting):
    if not isinstance(setting, str):
        raise TypeError(f"setting must be one of 'a', 'b', 'replace', 'mix'; got {type(setting).__name__}")
    setting = SETTING_ALIASES.get(setting, setting)
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of 'a', 'b' (or 'replace', 'mix'); got {setting!r}")
    return setting


def experiment(policy="replace", *, generations=None, seed=0, profile=None) -> loop.History:
    """The chapter's headline chain under data policy ``policy``; ``distance`` = mean test perplexity.

    Every policy trains 5 epochs per generation (setting (a)'s budget) so that only the data policy differs;
    ``'replace'`` is setting (a) itself. ``policy``: ``'replace'``, ``'accumulate'``, ``'mix'`` (10% real),
    ``'anchor'`` (1 real block added) or a ``loop.Policy``.
    """
    if isinstance(policy, str) and policy not in loop.POLICIES:
        raise ValueError(f"policy must be one of {loop.POLICIES} or a loop.Policy; got {policy!r}")
    pol = loop.policy(policy)
    return chain("a", generations=generations, seed=seed, profile=profile, policy=pol,
                 epochs=SETTINGS["a"]["epochs"])


# ---------------------------------------------------------------------------------------------------------------
# the measurements around the chain


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
    if not penalties:
        raise ValueError("penalties must hold at least one number >= 1")
    rows = []
    for p in progress(penalties, desc="repetition penalty"):
        x = generate(model, prompts, decoding=decoding, repetition_penalty=p, batch=batch, seed=seed)
        rows.append({"penalty": p, "repeat_4": repeat_share(x, 4), **diversity(x),
                     "ppl_self": float(seq_perplexity(model, x).mean())})
        if refit is not None:
            rows[-1]["next_test_ppl"] = float(refit(x))
    return rows


def repeat_share(x, n: int = 4) -> float:
    """Mean over rows of ``x`` (n_rows, L) of the share of n-grams that already occurred earlier in the same row."""
    n = _int("n", n, 1)
    shares = []
    for r in _blocks_tensor(x).tolist():
        grams = list(metrics.ngrams(r, n))
        shares.append(1 - len(set(grams)) / len(grams) if grams else 0.0)
    return float(np.mean(shares))


def side_by_side(tok, prompts, *models, labels=None, decoding="beam", repetition_penalty=REPETITION_PENALTY,
                 seed=0, width: int = 300) -> list[dict]:
    """The same prompts continued by each model: a list of dicts ``{"prompt": ..., label: continuation, ...}``."""
    p = _blocks_tensor(prompts, "prompts")
    labels = list(labels or [f"model {i}" for i in range(len(models))])
    if len(labels) != len(models) or not models:
        raise ValueError(f"labels must name each of the {len(models)} models; got {labels!r}")
    outs = [generate(m, p, decoding=decoding, repetition_penalty=repetition_penalty, seed=seed) for m in models]
    return [{"prompt": tok.decode(p[i])[-width:], **{lab: tok.decode(o[i])[:width] for lab, o in zip(labels, outs)}}
            for i in range(len(p))]


def print_side_by_side(rows, width: int = 110) -> None:
    """Print :func:`side_by_side` rows, one block per prompt, in lines of at most ``width`` characters."""
    import textwrap

    width = _int("width", width, 40)
    for i, r in enumerate(rows):
        print(textwrap.fill(f"--- prompt {i} (end): ...{' '.join(r['prompt'].split())[-160:]}", width,
                            subsequent_indent="    "))
        for k, v in r.items():
            if k != "prompt":
                print(textwrap.fill(f"  [{k}] {' '.join(v.split())}", width, subsequent_indent="      "))


# ---------------------------------------------------------------------------------------------------------------
# figures


def plot_chains(histories, ax=None, title="Test perplexity over generations"):
    """Test perplexity against generation for several histories (legend: their ``meta['label']``)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    for h in histories:
        lab = h.meta.get("label", "chain") + ("" if h.meta.get("decoding", "beam") == "beam" else ", sampling")
        ax.plot(h["generation"], h["test_ppl"], "o-", label=lab)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel("perplexity of the real test blocks")
    ax.set_title(title)
    ax.legend()
    return ax


def plot_seq_ppl(history, ax=None, bins: int = 40, title=None):
    """Histograms (log-x) of per-block perplexities of each generation's training data under generation 0."""
    import matplotlib.pyplot as plt

    seq = history.meta.get("seq_ppl") or {}
    if not seq:
        raise ValueError("history.meta['seq_ppl'] is empty: run the chain with lm.chain(...)")
    if ax is None:
        _, ax = plt.subplots()
    allv = np.concatenate([np.asarray(v) for v in seq.values()])
    edges = np.geomspace(max(allv.min(), 1.0), allv.max() * 1.01, bins + 1)
    cmap = plt.get_cmap("viridis")
    for g, v in sorted(seq.items(), key=lambda kv: int(kv[0])):
        g = int(g)
        # shares of blocks per (log-spaced) bin: a density would hide the wide bins of real text
        ax.hist(v, bins=edges, histtype="step", lw=1.8 if g == 0 else 1.3, weights=np.full(len(v), 1 / len(v)),
                color="k" if g == 0 else cmap(g / max(1, len(seq) - 1)),
                label=f"gen {g}" + (" (real data)" if g == 0 else ""))
    ax.set_xscale("log")
    ax.set_xlabel("perplexity of a training block under the generation-0 model")
    ax.set_ylabel("share of the training blocks")
    ax.set_title(title or f"Training data of each generation, {history.meta.get('label', '')}")
    ax.legend(fontsize=8)
    return ax


# ---------------------------------------------------------------------------------------------------------------
# outside a notebook: `collapse-lab run lm`


def run_experiment(out, profile=None, generations=None, seed=0, setting="replace") -> loop.History:
    """Run one setting's chain into folder ``out``, resumable from the last finished generation.

    Writes ``metrics.json`` / ``metrics.csv`` (one row per generation), ``seq_ppl.json``, ``samples.txt``
    (generation 0 vs last on the same prompts), figures ``test_ppl.png`` and ``seq_ppl.png``, and checkpoints
    ``ckpt/gen0`` (the scoring model) and ``ckpt/last`` (+ ``state.json``: generation and random state). Run it
    again with more ``generations`` and it continues after the last finished one; the numbers are the same as one
    uninterrupted run.
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a folder path; got {type(out).__name__}")
    s = sizes(profile)
    setting = _setting(setting)
    gens = s.generations if generations is None else _int("generations", generations, 0)
    seed = _int("seed", seed, 0)
    out = Path(out)
    ck = out / "ckpt"
    main = main_process()
    if main:
        ck.mkdir(parents=True, exist_ok=True)
    parts = setup(s.profile)
    tok = parts[1]
    meta_path, state_path = out / "metrics.json", ck / "state.json"
    run_key = {"profile": s.profile, "setting": setting, "seed": seed}
    start, ref, seq, prev = None, None, {}, loop.History()
    if state_path.is_file() and meta_path.is_file():
        st = json.loads(state_path.read_text())
        if st["key"] != run_key:
            raise ValueError(f"out={str(out)!r} holds a run of {st['key']}, not {run_key}: use another folder")
        prev = loop.History.from_json(meta_path)
        seq = {int(k): v for k, v in json.loads((out / "seq_ppl.json").read_text()).items()}
        ref = load(ck / "gen0")[0]
        g = st["generation"]
        if g >= gens:
            print(f"{out}: generations 0..{g} already done (asked for {gens}); nothing to run")
            return prev
        rng = np.random.default_rng()
        rng.bit_generator.state = st["rng"]
        start = (g, load(ck / "last")[0], [])
        print(f"{out}: resuming after generation {g}")
    else:
        rng = as_rng(seed)
    rows = list(prev.rows)

    def save(g, model, h):
        if not main:
            return
        if g == 0:
            model.save_pretrained(ck / "gen0")
        tmp = ck / "last.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        shutil.rmtree(ck / "last", ignore_errors=True)
        tmp.rename(ck / "last")
        hist = loop.History(rows + h.rows, meta=dict(run_key, label=SETTINGS[setting]["label"]))
        hist.to_json(meta_path)
        hist.to_csv(out / "metrics.csv")
        (out / "seq_ppl.json").write_text(json.dumps(seq))
        # the state file last: a crash before this line re-runs generation g, never skips it
        state_path.write_text(json.dumps({"key": run_key, "generation": g, "rng": rng.bit_generator.state}))

    h = chain(setting, generations=gens, seed=seed, profile=s.profile, parts=parts, ref=ref, seq_ppl=seq,
              callback=save, start=start, rng=rng, keep=(gens,))
    h = loop.History(rows + h.rows, models=h.models, meta=dict(h.meta, **run_key))
    if main:
        ref = h.models[0]
        prompts = parts[2].train[: s.n_samples]
        sbs = side_by_side(tok, prompts, ref, h.models[gens], labels=["generation 0", f"generation {gens}"])
        (out / "samples.txt").write_text("\n\n".join(
            f"PROMPT: {r['prompt']}\n\n" + "\n\n".join(f"[{k}] {v}" for k, v in r.items() if k != "prompt")
            for r in sbs))
        import matplotlib

        if "matplotlib.pyplot" not in __import__("sys").modules:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        plot_chains([h], ax=ax)
        fig.savefig(out / "test_ppl.png", bbox_inches="tight")
        fig2, ax2 = plt.subplots()
        plot_seq_ppl(h, ax=ax2)
        fig2.savefig(out / "seq_ppl.png", bbox_inches="tight")
        plt.close(fig)
        plt.close(fig2)
        print(h.table(["generation", "test_ppl", "train_ppl_median", "vocab", "distinct_2", "seconds"]))
        print(f"wrote {out}/metrics.json, metrics.csv, seq_ppl.json, samples.txt, test_ppl.png, seq_ppl.png")
    return h
