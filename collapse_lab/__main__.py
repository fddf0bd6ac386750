"""``python -m collapse_lab ...``: the ``collapse-lab`` command without a script on the PATH (no make needed).

    python -m collapse_lab course --profile quick    execute the course into build/
    python -m collapse_lab lab                       JupyterLab on the course folder
"""
import sys

from .cli import main

sys.exit(main())
