"""Plain data between the grader and a learner's kernel: JSON with tagged numpy/torch values, decoded safely.

Both ends import this module: the grader, and the kernel's :mod:`.shim` (from the package the kernel sees). Decoding
runs no code of the sender: JSON, base64, a whitelist of numeric dtypes and random bit generators, and limits on the
bytes and array elements of one message. What may travel: None, bool, int, float, str, lists, tuples, dicts,
numpy arrays and scalars (bool/int/uint/float/complex), torch tensors (their dtype and ``requires_grad``), numpy
Generators (their bit generator's state). Anything else is left to the caller (``other``), which turns it into a
handle (the kernel) or refuses it (the grader).
"""
from __future__ import annotations

import base64
import json
import os
import socket
import sys

import numpy as np

from ..validate import ArgumentError, flag, is_tensor

MAX_BYTES = 256 * 2**20  # one message, as sent
MAX_ELEMENTS = 50_000_000  # array elements in one message
DTYPES = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"}
TORCH_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64", "bfloat16",
                "complex64", "complex128"}
BIT_GENERATORS = {"PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"}
MAX_DEPTH = 60


class WireError(ValueError):
    """A message that is not plain data, too big, or malformed."""


# -- bad input --------------------------------------------------------------------------------------------------


def _int(name: str, value, lo: int, hi: int | None = None) -> int:
    allowed = f"an int >= {lo}" + (f" and <= {hi}" if hi is not None else "")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentError(f"{name} must be {allowed}; got {value!r:.60} ({type(value).__name__})")
    if value < lo or (hi is not None and value > hi):
        raise ArgumentError(f"{name} must be {allowed}; got {value!r}")
    return int(value)


def _optional_callable(name: str, value):
    if value is not None and not callable(value):
        raise ArgumentError(f"{name} must be None or a callable; got {value!r:.60} ({type(value).__name__})")
    return value


def _socket(name: str, sock, *methods: str):
    """``sock`` when it has the socket methods a function needs (a socket, or anything with that interface)."""
    missing = [m for m in methods if not callable(getattr(sock, m, None))]
    if missing:
        raise ArgumentError(f"{name} must be a connected socket (with {', '.join(methods)}); got {sock!r:.60} "
                            f"({type(sock).__name__}, no {', '.join(missing)})")
    return sock


def unix_socket(path: str, connect: bool):
    """A Unix stream socket connected to (``connect=True``) or bound to ``path`` (a str).

    A socket's address holds at most 107 bytes, and a grading folder may lie deeper than that: a longer path is
    reached through an open descriptor of its folder (``/proc/self/fd/N/name``, Linux), which names the same file.
    """
    if not isinstance(path, str) or not path:
        raise ArgumentError(f"path must be a non-empty str (a Unix socket's path); got {path!r:.60}")
    flag("connect", connect)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    op = sock.connect if connect else sock.bind
    try:
        if len(os.fsencode(path)) < 100:
            op(path)
        else:
            fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
            try:
                op(f"/proc/self/fd/{fd}/{os.path.basename(path)}")
            finally:
                os.close(fd)
    except BaseException:
        sock.close()
        raise
    return sock


def _dtype_code(dt: np.dtype) -> str:
    code = f"{dt.kind}{dt.itemsize}"
    if code not in DTYPES:
        raise WireError(f"arrays of dtype {dt} cannot be sent (allowed: bool, int, uint, float, complex)")
    return code


class Encoder:
    """Encode a value; arrays, tensors and Generators met are listed in ``slots`` (in order) so the other side can
    say which it changed. ``other(x)`` encodes anything else (or raises)."""

    def __init__(self, other=None, gens_aside: bool = False):
        self.other = _optional_callable("other", other)
        flag("gens_aside", gens_aside)
        self.slots: list = []
        self._seen: dict[int, int] = {}
        self.gens_aside = gens_aside  # Generators as {"$g": k}, their states in ``gens`` (a call's arguments)
        self.gens: list = []

    def _slot(self, x):
        k = self._seen.get(id(x))
        if k is not None:
            return {"$same": k}
        self._seen[id(x)] = len(self.slots)
        self.slots.append(x)
        return None

    def __call__(self, x, depth: int = 0):
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        t = type(x)
        if x is None or t in (bool, int, str):
            return x
        if t is float:
            return x if x == x and x not in (float("inf"), float("-inf")) else {"$f": repr(x)}
        if isinstance(x, list):
            return [self(v, depth + 1) for v in x]
        if isinstance(x, tuple) and _named(type(x)):  # a collapse_lab NamedTuple (loop.Family) keeps its type
            return {"$nt": [_name_of(type(x)), [self(v, depth + 1) for v in x]]}
        if isinstance(x, tuple):  # another namedtuple travels as a tuple
            return {"$t": [self(v, depth + 1) for v in x]}
        if isinstance(x, dict):
            return {"$d": [[self(k, depth + 1), self(v, depth + 1)] for k, v in x.items()]}
        if isinstance(x, np.ndarray) and t is np.ndarray:
            same = self._slot(x)
            if same:
                return same
            code = _dtype_code(x.dtype)
            raw = x.astype(x.dtype.newbyteorder("<"), copy=False).tobytes(order="C")
            return {"$a": [code, list(x.shape), base64.b64encode(raw).decode()]}
        if isinstance(x, np.generic) and not isinstance(x, np.object_):
            code = _dtype_code(x.dtype)
            return {"$s": [code, base64.b64encode(np.asarray(x, dtype=x.dtype.newbyteorder("<")).tobytes()).decode()]}
        if isinstance(x, np.random.Generator):
            same = self._slot(x)
            if same:
                return same
            state = Encoder()(x.bit_generator.state, depth + 1)  # its own slots: keep the numbering
            if self.gens_aside:
                self.gens.append(state)
                return {"$g": len(self.gens) - 1}
            return {"$g": state}
        if is_tensor(x):
            same = self._slot(x)
            if same:
                return same
            return self.tensor(x)
        if self.other is not None:
            return self.other(x)
        raise WireError(f"a {t.__module__}.{t.__qualname__} cannot be sent: only plain data (numbers, strings, "
                        "arrays, tensors, Generators, lists/tuples/dicts) and collapse_lab functions/classes")

    @staticmethod
    def tensor(x) -> dict:
        """A torch tensor ``x`` as a tagged value (its dtype, shape, data and ``requires_grad``)."""
        if not is_tensor(x):
            raise ArgumentError(f"x must be a torch tensor; got {x!r:.60} ({type(x).__name__})")
        import torch

        name = str(x.dtype).removeprefix("torch.")
        if name not in TORCH_DTYPES:
            raise WireError(f"tensors of dtype {x.dtype} cannot be sent")
        d = x.detach().cpu()
        a = (d.float() if name == "bfloat16" else d).contiguous().numpy()
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes(order="C")
        return {"$T": [name, list(a.shape), base64.b64encode(raw).decode(), bool(x.requires_grad),
                       _dtype_code(a.dtype)]}


class Decoder:
    """Decode a message with limits. ``hook(tag, body)`` decodes tags this module does not know (handles,
    references), or returns ``NotImplemented``. Decoded arrays, tensors and Generators are listed in ``slots``."""

    def __init__(self, hook=None, max_elements: int = MAX_ELEMENTS, gens=None):
        self.hook = _optional_callable("hook", hook)
        self.slots: list = []
        self.elements = 0
        self.max_elements = _int("max_elements", max_elements, 0, MAX_ELEMENTS)
        if gens is not None and not (isinstance(gens, list) and all(isinstance(g, np.random.Generator)
                                                                    for g in gens)):
            raise ArgumentError(f"gens must be None or a list of numpy Generators; got {gens!r:.60} "
                                f"({type(gens).__name__})")
        self.gens = gens  # Generators sent aside (see Encoder): {"$g": k} is gens[k]

    def _array(self, code, shape, b64):
        if code not in DTYPES or not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise WireError(f"bad array header {code!r} {shape!r}")
        if len(shape) > 32:
            raise WireError("too many dimensions")
        n = 1
        for s in shape:
            n *= s
        self.elements += n
        if self.elements > self.max_elements:
            raise WireError(f"more than {self.max_elements} array elements in one message")
        if not isinstance(b64, str):
            raise WireError("bad array data")
        dt = np.dtype("?" if code == "b1" else "<" + code)
        raw = base64.b64decode(b64.encode(), validate=True)
        if len(raw) != n * dt.itemsize:
            raise WireError(f"array data of {len(raw)} bytes for shape {shape} of {code}")
        return np.frombuffer(raw, dtype=dt).reshape(shape).astype(dt.newbyteorder("="), copy=True)

    def _dict(self, body, depth: int) -> dict:
        out = {}
        for kv in _list(body):
            k, v = _list(kv, 2)
            k = self(k, depth + 1)
            if not isinstance(k, (str, int, float, bool, tuple, type(None), np.generic)):
                raise WireError("dict keys must be numbers, strings or tuples")
            out[k] = self(v, depth + 1)
        return out

    def _named_tuple(self, body, depth: int) -> tuple:
        name, values = _list(body, 2)
        cls = _named_class(name)
        values = [self(v, depth + 1) for v in _list(values)]
        if len(values) != len(cls._fields):
            raise WireError(f"{name} takes {len(cls._fields)} fields; got {len(values)}")
        return tuple.__new__(cls, values)

    def _generator(self, body, depth: int) -> np.random.Generator:
        """A Generator sent aside (``body``: its index in ``gens``) or with its state."""
        if type(body) is int:
            if self.gens is None or not 0 <= body < len(self.gens):
                raise WireError("bad Generator reference")
            return self.gens[body]
        sub = Decoder(max_elements=self.max_elements - self.elements)
        return generator(sub(body, depth + 1))

    def _tensor(self, body):
        name, shape, b64, grad, code = _list(body, 5)
        if name not in TORCH_DTYPES:
            raise WireError(f"bad tensor dtype {name!r}")
        import torch

        tt = torch.from_numpy(self._array(code, shape, b64)).to(getattr(torch, name))
        if grad is True and tt.is_floating_point():
            tt.requires_grad_(True)
        return tt

    def __call__(self, x, depth: int = 0):
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        t = type(x)
        if x is None or t in (bool, int, float, str):
            return x
        if t is list:
            return [self(v, depth + 1) for v in x]
        if t is not dict or len(x) != 1:
            raise WireError(f"unexpected {t.__name__} in a message")
        (tag, body), = x.items()
        if tag == "$t":
            return tuple(self(v, depth + 1) for v in _list(body))
        if tag == "$d":
            return self._dict(body, depth)
        if tag == "$nt":
            return self._named_tuple(body, depth)
        if tag == "$f":
            if body not in ("nan", "inf", "-inf"):
                raise WireError(f"bad float {body!r}")
            return float(body)
        if tag == "$a":
            a = self._array(*_list(body, 3))
            self.slots.append(a)
            return a
        if tag == "$s":
            code, b64 = _list(body, 2)
            return self._array(code, [], b64)[()]
        if tag == "$g":
            g = self._generator(body, depth)
            self.slots.append(g)
            return g
        if tag == "$T":
            tt = self._tensor(body)
            self.slots.append(tt)
            return tt
        if tag == "$same":
            if type(body) is not int or not 0 <= body < len(self.slots):
                raise WireError("bad reference")
            return self.slots[body]
        if self.hook is not None:
            out = self.hook(tag, body)
            if out is not NotImplemented:
                return out
        raise WireError(f"unknown tag {tag!r}")


def _named(t) -> bool:
    """A NamedTuple class defined at module level in the collapse_lab package."""
    mod = getattr(t, "__module__", "") or ""
    return (issubclass(t, tuple) and isinstance(getattr(t, "_fields", None), tuple)
            and (mod == "collapse_lab" or mod.startswith("collapse_lab.")) and "<" not in t.__qualname__)


def _name_of(t) -> str:
    return f"{t.__module__}:{t.__qualname__}"


def _named_class(name):
    """The collapse_lab NamedTuple class called ``name`` ("module:qualname"), from modules already imported."""
    if not isinstance(name, str) or name.count(":") != 1:
        raise WireError("bad NamedTuple name")
    mod, qual = name.split(":")
    obj = sys.modules.get(mod) if mod == "collapse_lab" or mod.startswith("collapse_lab.") else None
    for part in qual.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and _named(obj) and _name_of(obj) == name):
        raise WireError(f"not a collapse_lab NamedTuple: {name}")
    return obj


def _list(x, n=None):
    if type(x) is not list or (n is not None and len(x) != n):
        raise WireError("malformed message")
    return x


def generator(state) -> np.random.Generator:
    """A numpy Generator with this bit generator ``state`` (a whitelisted bit generator only)."""
    if not isinstance(state, dict) or state.get("bit_generator") not in BIT_GENERATORS:
        raise WireError(f"bad Generator state (bit generators allowed: {sorted(BIT_GENERATORS)})")
    bg = getattr(np.random, state["bit_generator"])()
    try:
        bg.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise WireError(f"bad Generator state: {e}") from None
    return np.random.Generator(bg)


def error_reply(e: BaseException) -> dict:
    """The reply standing for the exception ``e`` raised by the learner's code: its type's name, message and whether
    it is an ``Exception`` (the grader maps it to a local type, :func:`.remote.remote_exception`)."""
    return {"err": [type(e).__name__, str(e)[:4000], isinstance(e, Exception)]}


def dumps(msg) -> bytes:
    """``msg`` (JSON data: what :class:`Encoder` made) as compact JSON bytes."""
    try:
        return json.dumps(msg, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as e:  # not JSON data (an array, a NaN, a cycle): the caller did not encode it
        raise ArgumentError(f"msg must be JSON data (None, bool, int, finite float, str, lists and dicts with str "
                            f"keys; encode other values with Encoder first); got {msg!r:.60}: {e}") from None


def loads(data: bytes, limit: int = MAX_BYTES):
    """A message's JSON value from its ``data`` (bytes, at most ``limit`` of them)."""
    if not isinstance(data, (bytes, bytearray)):
        raise ArgumentError(f"data must be bytes (a JSON message); got {data!r:.60} ({type(data).__name__})")
    limit = _int("limit", limit, 1)
    if len(data) > limit:
        raise WireError(f"message of {len(data)} bytes (limit {limit})")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise WireError(f"not a JSON message: {e}") from None


def _no_constant(name):
    raise ValueError(f"bare {name} in a message")


def send(sock, msg) -> None:
    """Send ``msg`` (JSON data) on ``sock``, after its length (8 bytes, big-endian)."""
    _socket("sock", sock, "sendall")
    data = dumps(msg)
    sock.sendall(len(data).to_bytes(8, "big") + data)


def recv(sock, limit: int = MAX_BYTES):
    """One message from a socket (blocking; the socket's timeout applies). Raises EOFError when closed."""
    _socket("sock", sock, "recv")
    limit = _int("limit", limit, 1)
    n = int.from_bytes(_exact(sock, 8), "big")
    if n > limit:
        raise WireError(f"message of {n} bytes (limit {limit})")
    return loads(_exact(sock, n), limit)


def _exact(sock, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return bytes(buf)
