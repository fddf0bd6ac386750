import gzip
import struct

import numpy as np
import pytest

from collapse_lab import data


def write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_lookup_order_env_first(tmp_path, monkeypatch):
    env = tmp_path / "env"
    (env / "mnist").mkdir(parents=True)
    monkeypatch.setenv("COLLAPSE_LAB_DATA", str(env))
    monkeypatch.chdir(tmp_path)
    dirs = data.search_dirs("mnist")
    assert dirs[0] == env / "mnist"
    assert dirs[1] == tmp_path / "data" / "mnist"
    assert dirs[2] == tmp_path.parent / "shared" / "data" / "mnist"


def test_env_folder_wins_over_shared(tmp_path, monkeypatch):
    imgs = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", np.array([3, 7]))
    monkeypatch.setenv("COLLAPSE_LAB_DATA", str(tmp_path))
    x, y = data.mnist("test")
    assert x.shape == (2, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x * 255, imgs)
    assert list(y) == [3, 7]


def test_shared_mnist_test_split_is_read():
    x, y = data.mnist("test")
    assert x.shape == (10_000, 28, 28) and y.shape == (10_000,)
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.bincount(y).min() > 800  # all ten digits, roughly balanced


def test_shared_wikitext_is_read():
    text = data.wikitext("valid")
    assert 1_000_000 < len(text) < 1_200_000 and "<unk>" in text


def test_nothing_found_names_the_places_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("COLLAPSE_LAB_OFFLINE", "1")
    with pytest.raises(data.DataNotFound) as e:
        data.find("nothing-here", ["a.txt"])
    msg = str(e.value)
    assert str(tmp_path / "empty" / "nothing-here") in msg and "COLLAPSE_LAB_DATA" in msg
    with pytest.raises(data.DataNotFound):
        data.wikitext("train")  # the train split is not in ../shared/data, and downloads are off


def test_digits_are_embedded():
    x, y = data.digits()
    assert x.shape == (1797, 8, 8) and x.max() == 1.0 and set(y) == set(range(10))


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="split"):
        data.mnist("validation")
    with pytest.raises(ValueError, match="split"):
        data.wikitext("dev")
    with pytest.raises(ValueError, match="name"):
        data.search_dirs("a/b")
    with pytest.raises(TypeError, match="files"):
        data.find("mnist", "t10k")
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        data.read_idx(bad)


def test_missing_split_message_says_what_the_folder_holds(tmp_path, monkeypatch):
    (tmp_path / "wikitext-2").mkdir()
    (tmp_path / "wikitext-2" / "valid.txt").write_text("x")
    monkeypatch.setenv("COLLAPSE_LAB_DATA", str(tmp_path))
    monkeypatch.setenv("COLLAPSE_LAB_OFFLINE", "1")
    with pytest.raises(data.DataNotFound, match=r"Downloads are off[\s\S]*exists; holds valid.txt"):
        data.wikitext("train")


def test_corrupt_files_name_their_path(tmp_path):
    import gzip as _gzip

    good = _gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "noise.gz").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 3, 0]))
    for name in ("cut.gz", "noise.gz", "short"):
        with pytest.raises(data.CorruptData, match=str(tmp_path / name).replace(".", r"\.")):
            data.read_idx(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="no such file"):
        data.read_idx(tmp_path / "missing.gz")
    with pytest.raises(TypeError, match="path must be a file path"):
        data.read_idx(3)


def test_text_files_refused_when_empty_short_or_binary(tmp_path, monkeypatch):
    folder = tmp_path / "wikitext-2"
    folder.mkdir()
    monkeypatch.setenv("COLLAPSE_LAB_DATA", str(tmp_path))
    for content, why in ((b"", "holds 0 bytes"), (b"short text\n", "holds 11 bytes"), (b"x" * 999, "holds 999 bytes"),
                         (b"\xff\xfe" * 20_000, "is not UTF-8 text")):
        (folder / "valid.txt").write_bytes(content)
        with pytest.raises(data.CorruptData, match=why) as e:
            data.wikitext("valid")
        assert str(folder / "valid.txt") in str(e.value)
