"""A failed check in a notebook: its message, not the check's frames (and the learner's own frames when their code
crashed); the cell still fails."""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

from ..validate import ArgumentError
from .messages import CheckFailed, show

_PACKAGE = str(Path(__file__).resolve().parent.parent)


def _learner_frames(exc: BaseException) -> list[str]:
    """The frames of ``exc``'s traceback outside collapse_lab (the learner's own code), formatted."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not str(Path(f.filename).resolve())
              .startswith(_PACKAGE) and "site-packages/IPython" not in f.filename]
    return traceback.format_list(frames) if frames else []


def render(value: BaseException) -> list[str]:
    """The lines a notebook shows for a failed check: its message, and the learner's frames of a crash."""
    if not isinstance(value, BaseException):
        raise ArgumentError(f"value must be an exception (a failed check); got {show(value, 60)} "
                            f"({type(value).__name__})")
    red, bold, reset = "\x1b[31m", "\x1b[1m", "\x1b[0m"
    msg = str(value).splitlines() or [""]
    out = [f"{red}{bold}Check failed{reset}{red}: {msg[0]}{reset}", *msg[1:]]
    cause = value.__cause__
    if cause is not None:
        frames = _learner_frames(cause)
        if frames:
            out += ["", "where your code raised it:", *"".join(frames).rstrip("\n").splitlines(),
                    f"{type(cause).__name__}: {cause}"]
    return ["\n".join(out)]


def _custom_exc(shell, etype, value, tb, tb_offset=None):
    stb = render(value)
    shell._showtraceback(etype, value, stb)  # ipykernel sends it as the error output (ename, evalue kept)
    return stb


def install_ipython_handler() -> bool:
    """In an IPython kernel, show failed checks as their message only. Returns True when installed."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    known = tuple(getattr(shell, "custom_exceptions", ()) or ())
    if CheckFailed in known:
        return True
    if known:  # someone else's handler is in place: keep it (IPython holds one handler)
        return False
    shell.set_custom_exc((CheckFailed,), _custom_exc)
    return True
