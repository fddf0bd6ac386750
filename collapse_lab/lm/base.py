"""The base model every generation fine-tunes, loaded with ``from_pretrained`` in every profile.

``paper`` (and ``gpu``): ``facebook/opt-125m`` and its tokenizer; ``$COLLAPSE_LAB_LM_BASE`` may name another model
folder or hub id to use instead (the tests point it at a tiny local OPT). ``quick`` / ``standard``: the package
"pretrains" its small OPT on real text, once per machine, and saves it with ``save_pretrained`` into
``$COLLAPSE_LAB_CACHE`` (default ``~/.cache/collapse-lab``), in a folder keyed by a hash of its config, training
sizes, trainer code and library versions (:func:`base_spec`); every notebook and test then loads it with the same
``from_pretrained`` call as the paper profile (:func:`load_base`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

from .. import data, lm
from ..runtime import device, seed_all
from .devices import _torch
from .protocol import BLOCK
from .text import WIKITEXT_ENV, _half

CACHE_ENV, BASE_ENV = "COLLAPSE_LAB_CACHE", "COLLAPSE_LAB_LM_BASE"
#: set by the grader in a graded kernel, whose package has the exercises' reference functions stubbed out (so the
#: trainer-code hash of base_key differs there): the folder of the base the full package cached
GRADED_BASE_ENV = "COLLAPSE_LAB_GRADED_BASE"


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
TRAINER_VERSION = 3
#: the functions whose code shapes the package's base: their source (without docstrings) is part of its cache key.
#: Both constants are read through the package (``lm.TRAINER_VERSION``), as the functions call each other, so what
#: the key hashes is what the package runs.
TRAINER_CODE = ("ensure_base", "train", "train_tokenizer", "config", "encode", "blocks", "_chunks", "_half",
                "drop_unk", "detokenize")


def trainer_code() -> str:
    """A hash of the code that trains the package's base: the functions named in ``TRAINER_CODE`` (looked up in
    the package when called, whichever of its files holds them), parsed and stripped of docstrings, so comments and
    formatting do not count."""
    import ast
    import inspect
    import textwrap

    h = hashlib.sha256()
    for name in lm.TRAINER_CODE:
        tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(vars(lm)[name]))))
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

    if not all(hasattr(s, a) for a in ("model", "pretrain")):
        raise TypeError(f"s must be the chapter's sizes, lm.sizes(profile); got {type(s).__name__}")
    return {"model": s.model, "pretrain": s.pretrain, "block": BLOCK, "text": "wikitext-2 valid, first half, without <unk>, detokenized",
            "version": lm.TRAINER_VERSION, "code": lm.trainer_code(), "torch": _torch().__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}


def base_key(s: SimpleNamespace) -> str:
    """Folder name of a package base: ``opt-<hash of>`` :func:`base_spec` ``(s)``.

    Any change to the config, the pretraining sizes, the trainer's code or the library versions names another
    folder, so a base trained by older code or other libraries is never reused.
    """
    spec = lm.base_spec(s)
    return "opt-" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def base_source(profile=None) -> str:
    """What :func:`load_base` passes to ``from_pretrained``: a hub id or a folder.

    ``paper``: ``$COLLAPSE_LAB_LM_BASE`` or ``facebook/opt-125m``; ``quick``/``standard``: the cache folder of the
    package's base (:func:`ensure_base` fills it).
    """
    s = lm.sizes(profile)
    if s.base is not None:
        return os.environ.get(BASE_ENV) or s.base
    if os.environ.get(GRADED_BASE_ENV):  # a graded kernel: the grader located the cached base with the full package
        return os.environ[GRADED_BASE_ENV]
    return str(lm.cache_dir() / lm.base_key(s))


def ensure_base(profile=None) -> str:
    """The folder of the package's base for ``profile``, pretrained and saved there first if it is missing.

    Training happens once per machine (30-70 s in the quick profile on 2 cores), always with seed 0; notebooks and
    tests share the folder. A finished base is moved into place in one rename, so a concurrent run never sees half
    a model.
    """
    s = lm.sizes(profile)
    if s.base is not None:
        return lm.base_source(profile)
    path = Path(lm.base_source(profile))
    if (path / "config.json").is_file() and (path / "tokenizer.json").is_file():
        return str(path)
    torch = _torch()
    from transformers import OPTForCausalLM

    print(f"No cached base model yet: pretraining one (once per machine) into {path}")
    t0 = time.perf_counter()
    seed = 0
    text = lm.drop_unk(data.wikitext("valid"))
    # the base learns the language in ordinary typography; WikiText-2's own conventions are left for fine-tuning
    pre = lm.detokenize(text[:_half(text)])
    tok = lm.train_tokenizer(pre, s.model["vocab"])
    x = lm.blocks(lm.encode(tok, pre))
    seed_all(seed)
    model = OPTForCausalLM(lm.config(s.model))
    p = s.pretrain
    lm.train(model, torch.as_tensor(x), epochs=p["epochs"], batch=p["batch"], lr=p["lr"], seed=seed,
             desc=f"pretraining the {profile or s.profile} base (once per machine)", warmup=0.05)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "collapse_lab.json").write_text(json.dumps(
        {**lm.base_spec(s), "tokens": int(x.size), "seconds": time.perf_counter() - t0}, indent=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(path)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return str(path)


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


def base_ready(profile=None) -> str:
    """:func:`ensure_base` under a file lock beside the cache folder: processes that ask for the same missing base
    at once (two course builds, a build's notebooks, parallel tests) train it once; the others wait, then load it.

    The lock lives here, outside ``ensure_base``, because that function's code is part of the base's cache key.
    """
    s = lm.sizes(profile)
    if s.base is not None:
        return lm.base_source(profile)
    from filelock import FileLock

    path = Path(lm.base_source(profile))
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
        return lm.ensure_base(profile)


def load_base(profile=None):
    """``(model, tokenizer)`` of the profile's base, pretrained first when it is not cached yet (quick/standard)."""
    return lm.load(lm.base_ready(profile))


#: ``setup``'s loaded parts per profile and data source; read as ``lm._LOADED``, so replacing it starts afresh
_LOADED: dict = {}


def setup(profile=None) -> tuple:
    """``(base, tok, corpus)`` of ``profile``, loaded once per process (the base is never trained in place).

    :func:`chain` and :func:`experiment` use it, so a notebook comparing several chains loads everything once.
    """
    s = lm.sizes(profile)
    key = (s.profile, lm.base_source(s.profile), os.environ.get("COLLAPSE_LAB_DATA", ""),
           os.environ.get(WIKITEXT_ENV, ""))
    if key not in lm._LOADED:
        base, tok = lm.load_base(s.profile)
        lm._LOADED[key] = (base, tok, lm.corpus(tok, s.profile))
    return lm._LOADED[key]
