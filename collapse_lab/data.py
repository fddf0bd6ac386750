"""Where data files are found, and the loaders of the course's data sets.

Lookup order for a data set folder ``name`` (e.g. ``"mnist"``, ``"wikitext-2"``):

1. ``$COLLAPSE_LAB_DATA/name``
2. ``./data/name`` (relative to the working directory, and to the course root)
3. ``../shared/data/name`` (relative to the working directory, and to the course root)
4. a download into ``$COLLAPSE_LAB_DATA`` (or ``./data``) where the user has a network; never when
   ``COLLAPSE_LAB_OFFLINE=1`` or ``CI`` is set.

When nothing is found, :class:`DataNotFound` names every place searched and what to put there.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
import urllib.request
from pathlib import Path
from typing import Sequence

import numpy as np

from . import validate

ROOT = Path(__file__).resolve().parent.parent  # the course root when installed in editable mode

MNIST_FILES = {
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
}
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")


class DataNotFound(FileNotFoundError):
    """A data set is not on this machine and could not be downloaded."""


class CorruptData(ValueError):
    """A data file exists but cannot be read as what it should be (truncated, wrong format, empty)."""


_GOOD_COPY = ("delete it and put a good copy in its place (the data folders' READMEs and the course README's "
              "'Data' section say where the files come from)")

# The smallest text a WikiText split may hold: an empty or nearly empty file is a failed copy (the real validation
# split is about 1.1 MB); small hand-made corpora for tests and demonstrations stay above this.
MIN_TEXT_BYTES = 1_000


def search_dirs(name: str) -> list[Path]:
    """The folders searched for data set ``name``, in order (existing or not)."""
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"name must be a data set folder name like 'mnist'; got {name!r}")
    dirs = []
    env = os.environ.get("COLLAPSE_LAB_DATA")
    if env:
        dirs.append(Path(env) / name)
    for base in (Path.cwd(), ROOT):
        dirs += [base / "data" / name, base.parent / "shared" / "data" / name]
    seen, out = set(), []
    for d in dirs:
        key = d.resolve()
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def offline() -> bool:
    """True when downloads are not allowed (``COLLAPSE_LAB_OFFLINE=1`` or running in CI)."""
    return os.environ.get("COLLAPSE_LAB_OFFLINE", "") not in ("", "0") or os.environ.get("CI", "") not in ("", "0", "false")


def find(name: str, files: Sequence[str]) -> Path:
    """The first folder of :func:`search_dirs` that holds every file of ``files``.

    Raises :class:`DataNotFound` naming the places searched when none does.
    """
    if not isinstance(files, (list, tuple)) or not all(isinstance(f, str) for f in files):
        raise TypeError(f"files must be a list of file names; got {files!r}")
    dirs = search_dirs(name)
    for d in dirs:
        if all((d / f).is_file() for f in files):
            return d

    def state(d):  # say what a folder that exists holds, so a missing split is obvious
        if not d.is_dir():
            return ""
        have = sorted(p.name for p in d.iterdir() if p.is_file())
        return f"  (exists; holds {', '.join(have[:6]) or 'no files'}{', ...' if len(have) > 6 else ''})"

    why = " Downloads are off (COLLAPSE_LAB_OFFLINE or CI is set)." if offline() else ""
    raise DataNotFound(
        f"data set {name!r} not found: no folder holds {list(files)}.{why} Searched, in order:\n"
        + "\n".join(f"  - {d}{state(d)}" for d in dirs)
        + f"\nPut the files in one of them (for example ./data/{name}/), or set COLLAPSE_LAB_DATA to a folder "
        f"that has a '{name}' sub-folder."
    )


def download_dir(name: str) -> Path:
    """Where a data set called ``name`` ('mnist', 'wikitext-2') is downloaded: $COLLAPSE_LAB_DATA/name, else
    ./data/name."""
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise validate.ArgumentError(f"name must be a data set folder name such as 'mnist'; got {name!r:.60}")
    env = os.environ.get("COLLAPSE_LAB_DATA")
    return Path(env) / name if env else Path.cwd() / "data" / name


def _fetch(urls: Sequence[str], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=30) as r, open(dest.with_suffix(".part"), "wb") as f:
                f.write(r.read())
            dest.with_suffix(".part").rename(dest)
            return
        except OSError as e:  # URLError is an OSError
            errors.append(f"{url}: {e}")
    raise DataNotFound("download failed:\n" + "\n".join(errors))


# ---------------------------------------------------------------------------------------------------------------
# image data


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's embedded digits: images (1797, 8, 8) float32 in [0, 1], labels (1797,) int64. Always offline."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def read_idx(path) -> np.ndarray:
    """An IDX file (the MNIST format, gzip or plain) as a numpy uint8 array of its stated shape."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or Path); got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, gzip.BadGzipFile, OSError, zlib.error) as e:  # truncated or not gzip at all
        raise CorruptData(f"{path} is damaged ({type(e).__name__}: {e}); {_GOOD_COPY}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise CorruptData(f"{path} is not an IDX file (bad magic number); {_GOOD_COPY}")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != 0x08:
        raise ValueError(f"{path}: only unsigned-byte IDX files are supported (type 0x08); got 0x{dtype_code:02x}")
    if len(raw) < 4 + 4 * ndim:
        raise CorruptData(f"{path}: the header is cut short ({len(raw)} bytes); {_GOOD_COPY}")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise CorruptData(f"{path}: header says shape {shape} but the file holds {data.size} values; {_GOOD_COPY}")
    return data.reshape(shape)


def mnist(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """MNIST images (N, 28, 28) float32 in [0, 1] and labels (N,) int64, from IDX files found by :func:`find`.

    ``split`` is ``'test'`` (10,000 images; what ``../shared/data/mnist`` holds) or ``'train'`` (60,000; download).
    """
    if not isinstance(split, str) or split not in MNIST_FILES:
        raise ValueError(f"split must be one of {sorted(MNIST_FILES)}; got {split!r}")
    files = MNIST_FILES[split]
    try:
        d = find("mnist", files)
    except DataNotFound:
        if offline():
            raise
        d = download_dir("mnist")
        for f in files:
            if not (d / f).is_file():
                _fetch([m + f for m in MNIST_MIRRORS], d / f)
    images = read_idx(d / files[0]).astype(np.float32) / 255.0
    labels = read_idx(d / files[1]).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"MNIST {split}: {len(images)} images but {len(labels)} labels in {d}")
    return images, labels


# ---------------------------------------------------------------------------------------------------------------
# text


WIKITEXT_SPLITS = ("train", "valid", "test")


def wikitext(split: str = "valid") -> str:
    """WikiText-2 (tokenized form) split ``'train'``, ``'valid'`` or ``'test'`` as one string.

    Offline it reads ``wikitext-2/{split}.txt`` found by :func:`find` (``../shared/data`` holds valid and test);
    with a network and the ``datasets`` package (``pip install -e .[paper]``) it loads ``wikitext-2-raw-v1``.
    """
    if not isinstance(split, str) or split not in WIKITEXT_SPLITS:
        raise ValueError(f"split must be one of {WIKITEXT_SPLITS}; got {split!r}")
    try:
        d = find("wikitext-2", [f"{split}.txt"])
    except DataNotFound:
        if offline():
            raise
        try:
            from datasets import load_dataset
        except ImportError:
            raise DataNotFound(f"WikiText-2 {split!r} not found locally and the `datasets` package is not "
                               "installed; run `pip install -e .[paper]` or put the files in ./data/wikitext-2/") from None
        hf_split = {"valid": "validation"}.get(split, split)
        return "".join(load_dataset("wikitext", "wikitext-2-raw-v1", split=hf_split)["text"])
    return read_text(d / f"{split}.txt")


def read_text(path, min_bytes: int = MIN_TEXT_BYTES) -> str:
    """A UTF-8 text file as one string; a binary, damaged, empty or undersized file is refused naming its path."""
    path = validate.path("path", path, kind="file")
    min_bytes = validate.integer("min_bytes", min_bytes, 0)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CorruptData(f"path {str(path)!r} cannot be read ({e})") from None
    if len(raw) < min_bytes:
        raise CorruptData(f"{path} holds {len(raw)} bytes; a WikiText split holds at least {min_bytes} "
                          f"(the validation split is about 1.1 MB): {_GOOD_COPY}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorruptData(f"{path} is not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r}); "
                          f"{_GOOD_COPY}") from None
