"""Set the kernelspec metadata of every committed notebook to the kernel ``make install`` registers.

    python tests/browser/kernelspec.py          (rewrites notebooks/, solutions/, exercises/ in place)

JupyterLab rewrites a notebook's ``kernelspec`` to the running kernel's when it opens it; a different display name
marks the notebook modified at once (closing it then asks to save). Only the metadata changes: cells, ids and
formatting stay as they are.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def main() -> int:
    changed = []
    for d in ("notebooks", "solutions", "exercises"):
        for path in sorted((ROOT / d).glob("*.ipynb")):
            text = path.read_text()
            nb = json.loads(text)
            if nb["metadata"].get("kernelspec") == KERNELSPEC:
                continue
            nb["metadata"]["kernelspec"] = dict(KERNELSPEC)
            # nbformat's layout (indent 1, keys sorted, non-ASCII kept) so the diff is the metadata only
            path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            changed.append(path.relative_to(ROOT).as_posix())
    print("\n".join(changed) or "every notebook already carries the kernelspec")
    return 0


if __name__ == "__main__":
    sys.exit(main())
