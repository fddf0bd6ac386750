"""The grader's side of a learner's kernel: proxies of the learner's functions, classes and objects.

A check function (``collapse_lab.checks.chN.name``) runs in the grader's process with ``fn`` a proxy: calling it
sends the arguments as plain data (:mod:`.wire`) to the kernel, where the learner's function runs; its result comes
back as plain data, or as a proxy when it is not plain (a learner's object: attribute access and calls are
forwarded). Arrays the learner's function changed in place are copied back into the caller's arrays, Generators get
their state back, and :func:`collapse_lab.checks.core.last_call` reports whether the call changed a global random
generator in the kernel.
"""
from __future__ import annotations

import builtins
import inspect
import re
import socket
import sys
import time

import numpy as np

from ..validate import ArgumentError, flag, integer, number
from . import wire
from .batching import Ahead


class KernelGone(BaseException):
    """The kernel died or stopped answering: the submission cannot be graded further. (Not an ``Exception``, so a
    check's ``except Exception`` cannot turn it into a failed check.)"""


class OutOfTime(BaseException):
    """The notebook's time (``--notebook-timeout``) ran out."""


class RemoteError(Exception):
    """An exception raised by the learner's code in the kernel (its type name is the remote one)."""


_ERRORS: dict[str, type] = {}
# The largest handle id: the kernel numbers its objects from 1, and no grading session comes near this many.
MAX_HANDLE = 10_000_000


def _needs(name: str, value, what: str, *attrs: str):
    """``value`` when it has the (callable) attributes a function uses: ``what`` names the kind of object."""
    missing = [a for a in attrs if not callable(getattr(value, a, None))]
    if missing:
        raise ArgumentError(f"{name} must be {what} (with {', '.join(attrs)}); got {value!r:.60} "
                            f"({type(value).__name__}, no {', '.join(missing)})")
    return value


def _str(name: str, value, empty: bool = True) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise ArgumentError(f"{name} must be a{'' if empty else ' non-empty'} str; got {value!r:.60} "
                            f"({type(value).__name__})")
    return value


def _deadline(name: str, value) -> float:
    """A time.monotonic() reading, or +inf (no deadline)."""
    if isinstance(value, (float, np.floating)) and value == float("inf"):
        return float(value)
    return number(name, value)


def _seconds(name: str, value) -> float:
    """A time limit in seconds: > 0, +inf for none."""
    if isinstance(value, (float, np.floating)) and value == float("inf"):
        return float(value)
    return number(name, value, lo=0, lo_open=True)


def remote_exception(name: str, message: str, is_exception: bool) -> BaseException:
    """A local exception standing for the learner's: a builtin exception type of that name, else a
    :class:`RemoteError` subclass named like the remote type (never the checks' own ``CheckFailed``). ``name``,
    ``message``: str, as the kernel sent them; ``is_exception``: whether the remote one was an ``Exception``."""
    _str("name", name), _str("message", message), flag("is_exception", is_exception)
    name = name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,80}", name or "") else "Error"
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)) or not is_exception:
        cls = _ERRORS.get(name)
        if cls is None:
            cls = _ERRORS[name] = type(name, (RemoteError,), {"__module__": "learner"})
    try:
        return cls(message)
    except Exception:  # an exception type with another signature
        return RemoteError(f"{name}: {message}")


class Channel:
    """The grader's end of the socket to the kernel's shim, with the time limits of one submission."""

    def __init__(self, sock: socket.socket, timeout: float, deadline: float, on_timeout, batching: bool = True):
        self.sock = _needs("sock", sock, "a connected socket", "sendall", "recv", "settimeout")
        self.timeout = _seconds("timeout", timeout)  # seconds per call, as for a cell
        self.deadline = _deadline("deadline", deadline)  # time.monotonic() at which the notebook's time runs out
        # interrupts the kernel; returns False when it could not
        self.on_timeout = _needs("on_timeout", on_timeout, "a function", "__call__")
        self.batching = flag("batching", batching)  # repeated calls asked for ahead (.batching); False: one by one
        self.calls = 0

    def request(self, msg: dict, decoder: wire.Decoder | None):
        """Send the request ``msg`` (a dict with its ``'op'``) and return the kernel's reply (a dict)."""
        if not (isinstance(msg, dict) and isinstance(msg.get("op"), str)):
            raise ArgumentError(f"msg must be a request dict with a str 'op'; got {msg!r:.60}")
        if decoder is not None and not isinstance(decoder, wire.Decoder):
            raise ArgumentError(f"decoder must be None or a wire.Decoder; got {decoder!r:.60}")
        self.calls += 1
        limit = min(self.timeout, self.deadline - time.monotonic())
        if limit <= 0:
            raise OutOfTime()
        # a kernel that stopped reading must not block the grader: a request larger than the socket's buffer
        # waits for it to read, within the call's time
        self.sock.settimeout(limit)
        try:
            wire.send(self.sock, msg)
        except TimeoutError:
            if limit >= self.timeout:
                raise KernelGone(f"timed out: the kernel did not read a request within {self.timeout:g} s "
                                 "(--timeout)") from None
            raise OutOfTime() from None
        except OSError as e:
            raise KernelGone(f"the kernel stopped answering ({e})") from None
        reply = self._reply(decoder)
        if not isinstance(reply, dict):
            raise KernelGone("the kernel sent a malformed reply")
        return reply

    def _reply(self, decoder):
        left = self.deadline - time.monotonic()
        limit = min(self.timeout, left)
        if limit <= 0:
            raise OutOfTime()
        self.sock.settimeout(limit)
        try:
            return wire.recv(self.sock)
        except TimeoutError:
            pass
        except (EOFError, OSError) as e:
            raise KernelGone(f"the kernel died ({e})") from None
        except wire.WireError as e:
            raise KernelGone(f"the kernel sent a reply that is not plain data: {e}") from None
        # too slow: interrupt the learner's code, and give the kernel a few seconds to say so
        if limit >= left:
            raise OutOfTime()
        self.on_timeout()
        self.sock.settimeout(5)
        try:
            reply = wire.recv(self.sock)
        except (TimeoutError, EOFError, OSError, wire.WireError):
            raise KernelGone(f"timed out: a call of the learner's code ran longer than {self.timeout:g} s "
                             "(--timeout) and did not stop when interrupted") from None
        batch = reply.get("batch") if isinstance(reply, dict) else None  # a call's replies (.batching)
        for r in [reply, *(batch if isinstance(batch, list) else [])]:
            if isinstance(r, dict) and "err" in r:  # the interrupt's KeyboardInterrupt: say what happened
                r["err"] = ["TimedOut", f"did not return within {self.timeout:g} s (--timeout); interrupted", True]
        return reply


class Remote:
    """Common part of the proxies: a handle to an object kept in the kernel."""

    def __init__(self, channel: Channel, hid: int, name: str):
        _needs("channel", channel, "a Channel", "request")
        hid, name = integer("hid", hid, 0, MAX_HANDLE), _str("name", name)
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "__name__", name)
        object.__setattr__(self, "__qualname__", name)
        object.__setattr__(self, "_facts", {"global_rng_changed": False})
        object.__setattr__(self, "_ahead", Ahead(getattr(channel, "batching", True)))

    def __collapse_lab_call_facts__(self) -> dict:
        """What :func:`collapse_lab.checks.core.last_call` reports after a call of this proxy."""
        return dict(self._facts)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):  # numpy, copy, pickle... probing: not forwarded
            raise AttributeError(name)
        reply = self._channel.request({"op": "getattr", "h": self._hid, "name": name}, self._decoder())
        return self._result(reply, None)[0]

    def __setattr__(self, name, value):
        raise AttributeError("a learner's object seen by the grader is read-only")

    def __repr__(self):
        return f"<learner's {self.__name__}>"

    def _decoder(self):
        return wire.Decoder(self._hook)

    def _hook(self, tag, body):
        if tag == "$h":
            if not (isinstance(body, list) and len(body) == 4 and type(body[0]) is int and 0 <= body[0] <= MAX_HANDLE
                    and body[1] in ("class", "function", "object") and isinstance(body[2], str)
                    and type(body[3]) is bool):
                raise wire.WireError("bad handle")
            return proxy(self._channel, *body)
        return NotImplemented

    def _result(self, reply, slots):
        if "err" in reply:
            name, message, is_exc = (list(reply["err"]) + ["", "", True])[:3]
            raise remote_exception(str(name), str(message), bool(is_exc))
        dec = self._decoder()
        try:
            value = dec(reply.get("ok"))
        except wire.WireError as e:
            raise RemoteError(f"the result is not plain data: {e}") from None
        return value, dec

    def _invoke(self, *args, **kwargs):
        enc = wire.Encoder(_reference, gens_aside=True)
        a, k = enc(list(args)), enc(dict(kwargs))
        key = wire.dumps([a, k]).decode()
        ahead = self._ahead
        reply = ahead.take(key, enc.gens)  # computed ahead (.batching), on exactly these arguments and states
        if reply is None:
            msg = {"op": "call", "h": self._hid, "args": a, "kw": k, "gens": enc.gens,
                   "repeat": ahead.how_many(key, enc.gens)}
            got = self._channel.request(msg, None)
            batch = got.get("batch") if "err" not in got else [got]
            if not (isinstance(batch, list) and batch and all(isinstance(r, dict) for r in batch)):
                raise remote_exception("RemoteError", "malformed reply", True)
            reply = ahead.keep(key, batch)
        ahead.done(None)
        value, dec = self._result(reply, enc.slots)
        _sync_back(reply.get("back"), enc.slots, dec)
        _lists_back(reply.get("lists"), args, kwargs, dec)
        gens = [s for s in enc.slots if isinstance(s, np.random.Generator)]
        states = reply.get("gens")
        if not (isinstance(states, list) and len(states) == len(gens)):
            raise RemoteError("malformed reply: Generator states")
        for g, state in zip(gens, states):
            _set_state(g, state)
        ahead.done(key, states)
        self._facts["global_rng_changed"] = reply.get("rng") is True
        return _with_grads(value, reply.get("grads"), enc.slots, dec)


def _set_state(g: np.random.Generator, enc_state) -> None:
    try:
        state = wire.Decoder()(enc_state)
        if not isinstance(state, dict) or state.get("bit_generator") != g.bit_generator.state["bit_generator"]:
            raise RemoteError("the Generator came back with another kind of bit generator")
        g.bit_generator.state = wire.generator(state).bit_generator.state
    except wire.WireError as e:
        raise RemoteError(f"a Generator came back as no plain data: {e}") from None


class RemoteObject(Remote):
    """A learner's object that is not callable."""


class RemoteFunction(Remote):
    """A learner's function (or a bound method, or a callable object)."""

    __call__ = Remote._invoke


class RemoteClass(type):
    """Metaclass of a learner's class seen by the grader: ``isinstance(proxy, type)`` holds, ``proxy(...)``
    instantiates in the kernel, attribute access is forwarded."""

    def __call__(cls, *args, **kwargs):
        return cls._r._invoke(*args, **kwargs)

    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__") or name == "_r":
            raise AttributeError(name)
        return getattr(cls._r, name)

    def __collapse_lab_call_facts__(cls) -> dict:
        return cls._r.__collapse_lab_call_facts__()


def proxy(channel: Channel, hid: int, kind: str, name: str, is_callable: bool):
    """The grader's stand-in for the kernel's object ``hid`` (an int >= 0) of ``kind`` 'class', 'function' or
    'object', called ``name``."""
    if not isinstance(kind, str) or kind not in ("class", "function", "object"):
        raise ArgumentError(f"kind must be 'class', 'function' or 'object'; got {kind!r:.60}")
    _str("name", name), flag("is_callable", is_callable)
    if kind == "class":
        r = RemoteFunction(channel, hid, name)
        return RemoteClass(name if name.isidentifier() else "LearnerClass", (), {"_r": r, "__module__": "learner"})
    return (RemoteFunction if is_callable else RemoteObject)(channel, hid, name)


def _reference(x):
    """A collapse_lab module-level function or class (also a private one, or one wrapped by functools such as
    ``lru_cache``) as an argument: sent by qualified name, only when that name leads back to this very object."""
    if isinstance(x, Remote):
        return {"$h": x._hid}
    if isinstance(x, RemoteClass):
        return {"$h": x._r._hid}
    mod = getattr(x, "__module__", None) or ""
    qual = getattr(x, "__qualname__", None)
    if (callable(x) and isinstance(mod, str) and isinstance(qual, str) and "<" not in qual
            and (mod == "collapse_lab" or mod.startswith("collapse_lab."))):
        found = sys.modules.get(mod)
        for part in qual.split("."):
            found = getattr(found, part, None)
        if found is x:
            return {"$q": f"{mod}:{qual}"}
    raise wire.WireError(f"a {type(x).__qualname__} cannot be passed to the learner's code in the grader's kernel "
                         "(plain data and module-level collapse_lab functions or classes only)")


def _sync_back(back, slots, dec) -> None:
    """Copy arrays the learner's function changed in place into the caller's, and Generator states back."""
    if not back:
        return
    if not isinstance(back, list):
        raise RemoteError("malformed reply")
    for item in back:
        if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int and 0 <= item[0] < len(slots)):
            raise RemoteError("malformed reply")
        i, enc = item
        target = slots[i]
        try:
            if isinstance(target, np.random.Generator):
                state = wire.Decoder()(enc)
                if not isinstance(state, dict) or state.get("bit_generator") != target.bit_generator.state[
                        "bit_generator"]:
                    raise RemoteError("the Generator came back with another kind of bit generator")
                target.bit_generator.state = wire.generator(state).bit_generator.state
            elif isinstance(target, np.ndarray):
                new = wire.Decoder()(enc)
                if isinstance(new, np.ndarray) and new.shape == target.shape and target.flags.writeable:
                    target[...] = new.astype(target.dtype, copy=False)
            else:  # a tensor
                import torch

                new = wire.Decoder()(enc)
                if isinstance(new, torch.Tensor) and new.shape == target.shape:
                    with torch.no_grad():
                        target.copy_(new.to(target.dtype))
        except wire.WireError as e:
            raise RemoteError(f"an argument came back as no plain data: {e}") from None


def _lists_back(lists, args, kwargs, dec) -> None:
    """Give the caller's list arguments the contents the learner's function left in them (sorted, popped...)."""
    if not lists:
        return
    if not isinstance(lists, list):
        raise RemoteError("malformed reply")
    for item in lists:
        if not (isinstance(item, list) and len(item) == 2):
            raise RemoteError("malformed reply")
        key, enc = item
        target = (args[key] if type(key) is int and 0 <= key < len(args) else
                  kwargs.get(key) if isinstance(key, str) else None)
        if type(target) is not list:
            raise RemoteError("malformed reply: a list argument")
        try:
            new = dec(enc)
        except wire.WireError as e:
            raise RemoteError(f"a list argument came back as no plain data: {e}") from None
        if not isinstance(new, list):
            raise RemoteError("malformed reply: a list argument")
        target[:] = new


def _with_grads(value, grads, slots, dec):
    """The result, tied to the caller's tensors so that autograd gives the gradients computed in the kernel."""
    if not grads:
        return value
    import torch

    leaves = [s for s in slots if isinstance(s, torch.Tensor) and s.requires_grad]
    if not (isinstance(grads, list) and len(grads) == len(leaves) and isinstance(value, torch.Tensor)
            and value.numel() == 1 and value.is_floating_point()):
        return value
    out = value.detach().reshape(value.shape)
    for leaf, g in zip(leaves, grads):
        if g is None:
            continue
        try:
            g = wire.Decoder()(g)
        except wire.WireError as e:
            raise RemoteError(f"a gradient came back as no plain data: {e}") from None
        if isinstance(g, torch.Tensor) and g.shape == leaf.shape:
            # value + <leaf - leaf.detach(), g>: the same value, and d/d leaf = g
            out = out + ((leaf - leaf.detach()) * g.to(leaf.dtype)).sum().to(out.dtype)
    return out


def evaluate(channel: Channel, expr: str):
    """The value of ``expr`` (a str: a Python expression) in the learner's namespace: plain data, or a proxy."""
    _needs("channel", channel, "a Channel", "request")
    _str("expr", expr, empty=False)
    r = RemoteFunction(channel, 0, "expr")
    reply = channel.request({"op": "eval", "expr": expr}, None)
    return r._result(reply, None)[0]
