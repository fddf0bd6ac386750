"""Fetch the course's data sets once, into DIR (default ./data): python binder/fetch_data.py [DIR].

- MNIST test split (IDX files, gzip): ``DIR/mnist/`` via ``collapse_lab.data.mnist()``, which downloads from the
  usual MNIST mirrors when no local copy exists.
- WikiText-2, tokenized release, validation and test splits: ``DIR/wikitext-2/valid.txt`` and ``test.txt``,
  written from the ``wikitext-2-v1`` configuration of the Hugging Face ``wikitext`` data set (needs ``datasets``:
  ``pip install datasets``).

Licences: WikiText-2 is CC BY-SA 3.0 (Merity et al., 2016); MNIST is distributed by LeCun, Cortes and Burges
(see README.md, "Data").
"""
import os
import sys
from pathlib import Path


def main(dest="data") -> int:
    dest = Path(dest).resolve()
    os.environ["COLLAPSE_LAB_DATA"] = str(dest)  # the download goes where the lookup searches first
    from collapse_lab import data

    ok = True
    try:
        data.mnist()
        print(f"MNIST: {data.find('mnist', data.MNIST_FILES['test'])}")
    except Exception as e:  # noqa: BLE001 - report and go on to the next data set
        ok = False
        print(f"MNIST not fetched: {e}", file=sys.stderr)
    wt = dest / "wikitext-2"
    try:
        print(f"WikiText-2: {data.find('wikitext-2', ['valid.txt', 'test.txt'])}")
    except data.DataNotFound:
        try:
            from datasets import load_dataset

            wt.mkdir(parents=True, exist_ok=True)
            for split, hf in (("valid", "validation"), ("test", "test")):
                rows = load_dataset("Salesforce/wikitext", "wikitext-2-v1", split=hf)["text"]
                (wt / f"{split}.txt").write_text("".join(rows), encoding="utf-8")
            print(f"WikiText-2: {wt}")
        except Exception as e:  # noqa: BLE001
            ok = False
            print(f"WikiText-2 not fetched ({e}); pip install datasets, or copy valid.txt and test.txt into {wt}",
                  file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
