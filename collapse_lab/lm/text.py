"""Text for chapter 4: WikiText-2 as token ids cut into 64-token blocks, and the tokenizer of the package's base.

Offline data roles (``../shared/data/wikitext-2`` holds only the valid and test splits): the first half of ``valid``,
put back into ordinary typography (:func:`detokenize`), trains the tokenizer and pretrains the base; blocks of the
second half, in WikiText-2's own tokenized form, are the "real" fine-tuning data; blocks of ``test`` (same form)
measure test perplexity. Base, fine-tuning and test text never overlap. Every offline text first loses WikiText-2's
``<unk>`` placeholders (:func:`drop_unk`). The profiles with a pretrained base (``paper``, ``gpu``) fine-tune on
WikiText-2's train split and test on its test split (:func:`paper_text`).

Why the base sees another typography: the paper's OPT-125m was pretrained on web text in ordinary typography and
meets WikiText-2's conventions (``1 @,@ 000``, `` , `` with spaces, ``= = Title = =``) only when it is fine-tuned;
that is most of its drop from perplexity 115 (zero-shot) to 34 (fine-tuned). A base pretrained on the same
typography as the fine-tuning text has nothing left to learn from it; one pretrained on the detokenized text learns
the language and the domain, and fine-tuning teaches it the data set's conventions, as in the paper.
"""
from __future__ import annotations

import os
import re
from types import SimpleNamespace

import numpy as np

from .. import data, lm
from ..validate import integer as _int
from .devices import _torch
from .protocol import BLOCK

WIKITEXT_ENV = "COLLAPSE_LAB_WIKITEXT"  # paper / gpu profiles: hub id or local folder of the raw WikiText-2
WIKITEXT_CONFIG = "wikitext-2-raw-v1"


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
    if not hasattr(x, "__getitem__") or not hasattr(x, "__len__") or isinstance(x, (str, bytes, dict)):
        raise ValueError(f"x must be an array or tensor of rows; got {type(x).__name__}")
    if len(x) == 0 or getattr(x, "ndim", 2) < 2:
        raise ValueError(f"x must be a non-empty array or tensor of rows (n, ...); got "
                         f"{'shape ' + str(tuple(x.shape)) if hasattr(x, 'shape') else 'an empty ' + type(x).__name__}")
    if n is not None:
        n = _int("n", n, 1)
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


def drop_unk(text: str) -> str:
    """``text`` without WikiText-2's ``<unk>`` placeholders (each with the space before it).

    The tokenized release replaced every word rarer than its vocabulary cut-off by ``<unk>`` (about 5% of the words
    of the validation split). A model trained on that text learns ``<unk>`` as its most frequent "word" and writes it
    everywhere; removing the placeholders keeps readable sentences with a rare word missing here and there.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    return re.sub(r" ?<unk>", "", text)


def detokenize(text: str) -> str:
    """WikiText-2's tokenized text back in ordinary typography: ``1 @,@ 000`` -> ``1,000``, ``word , word`` ->
    ``word, word``, ``( x )`` -> ``(x)``, ``" x "`` -> ``"x"``, `` 's`` -> ``'s``, headings ``= = Title = =`` ->
    ``Title``. The rules of the WikiText detokenizer of EleutherAI's lm-evaluation-harness, shortened."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    s = text.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    for p in ":;.!?,":
        s = s.replace(f" {p} ", f"{p} ")
    s = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", s)
    s = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', s)
    s = re.sub(r"(?m)^ ?=(?: =)* (.*?) =(?: =)* ?$", r"\1", s)
    return s.replace(" 's", "'s").replace(" \n", "\n").replace("\n ", "\n")


def _half(text: str) -> int:
    """Character index of the first line break after the middle of ``text``."""
    i = text.find("\n", len(text) // 2)
    return len(text) if i < 0 else i + 1


def paper_text(split: str) -> str:
    """WikiText-2 split ``'train'``, ``'valid'`` or ``'test'`` for the pretrained-base profiles, as one string.

    With ``$COLLAPSE_LAB_WIKITEXT`` set (a hub id such as ``Salesforce/wikitext``, or a local folder laid out as
    that hub data set: ``README.md`` naming the configs, ``wikitext-2-raw-v1/{train,validation,test}-*.parquet``)
    the raw text is read with ``datasets.load_dataset(source, "wikitext-2-raw-v1", split=...)``, the paper's
    data set; otherwise :func:`collapse_lab.data.wikitext` (local files first, then the same hub data set).
    """
    if not isinstance(split, str) or split not in data.WIKITEXT_SPLITS:
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

    quick/standard: ``train`` from the second half of WikiText-2 valid, ``test`` from test, both without ``<unk>``
    (:func:`drop_unk`) and evenly spread over their text; paper: every block of the train and test splits.
    """
    torch = _torch()
    s = lm.sizes(profile)
    if s.base is None:
        text = lm.drop_unk(data.wikitext("valid"))
        real = lm.blocks(lm.encode(tok, text[_half(text):]))
        test = lm.blocks(lm.encode(tok, lm.drop_unk(data.wikitext("test"))))
    else:
        real = lm.blocks(lm.encode(tok, lm.paper_text("train")))
        test = lm.blocks(lm.encode(tok, lm.paper_text("test")))
    return SimpleNamespace(train=torch.as_tensor(lm.spread(real, s.n_train)),
                           test=torch.as_tensor(lm.spread(test, s.n_test)))
