"""Set the kernel metadata of every committed notebook to what JupyterLab writes when it opens it.

    python tests/browser/kernelspec.py          (rewrites notebooks/, solutions/, exercises/ in place)

JupyterLab replaces a notebook's ``kernelspec`` with the running kernel's and its ``language_info`` with the
kernel's ``kernel_info`` reply as soon as it opens the notebook; any difference marks the notebook modified (closing
it then asks to save). Measured in JupyterLab 4.6 + ipykernel 7 (tests/browser/run.py checks it on every run): a
notebook is left unmodified only when ``kernelspec`` is the one ``make install`` registers AND ``language_info`` is
ipykernel's whole dict, Python version included. So this script writes both, taking ``language_info`` from the
ipykernel of the interpreter that runs it (run it with the course's venv Python). Only the metadata changes:
cells, ids and formatting stay as they are.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def language_info() -> dict:
    """What ipykernel's kernel_info reply says for this interpreter (JupyterLab copies it into the notebook)."""
    from ipykernel.ipkernel import IPythonKernel

    return json.loads(json.dumps(IPythonKernel.language_info))


def main() -> int:
    want = {"kernelspec": KERNELSPEC, "language_info": language_info()}
    changed = []
    for d in ("notebooks", "solutions", "exercises"):
        for path in sorted((ROOT / d).glob("*.ipynb")):
            nb = json.loads(path.read_text())
            if all(nb["metadata"].get(k) == v for k, v in want.items()):
                continue
            nb["metadata"].update(json.loads(json.dumps(want)))
            # nbformat's layout (indent 1, keys sorted, non-ASCII kept) so the diff is the metadata only
            path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            changed.append(path.relative_to(ROOT).as_posix())
    print("\n".join(changed) or "every notebook already carries the kernel metadata")
    return 0


if __name__ == "__main__":
    sys.exit(main())
