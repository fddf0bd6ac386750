"""The kernel side of grading: serve the grader's requests on a Unix socket, inside the learner's kernel.

The grader starts it with one execute request after the learner's notebook ran: the kernel imports this module
from the package it sees (in a graded run the keyless copy, read-only; :mod:`.keyless`), so nothing of the course's
reference code comes with it. It connects
to the grader, then evaluates expressions in the learner's namespace, calls the learner's functions on the grader's
plain data, and sends back plain data. Nothing here is trusted by the grader: the learner's code may have changed
anything in this process, so every reply is checked in the grader's process.
"""
from __future__ import annotations

import importlib
import sys

import numpy as np

from ..validate import ArgumentError, is_tensor
from .batching import run_ahead
from .wire import MAX_BYTES, Decoder, Encoder, dumps, error_reply, generator, recv, unix_socket


def _global_rng():
    """numpy's legacy global state (its raw Mersenne Twister words, read in place: get_state() is slow) and
    torch's default generator state."""
    try:
        import ctypes

        bg = np.random.mtrand._rand._bit_generator
        out = [ctypes.string_at(bg.ctypes.state_address, 624 * 4 + 8)]
    except Exception:  # noqa: BLE001 - another numpy layout
        st = np.random.get_state()
        out = [st[1].tobytes(), st[2:]]
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_rng_state"):
        out.append(bytes(torch.get_rng_state().numpy().tobytes()))
    return out


def _request(name: str, req, *keys: str) -> dict:
    """``req`` when it is a dict holding ``keys`` (a request from the grader)."""
    if type(req) is not dict:
        raise ArgumentError(f"{name} must be a request dict; got {req!r:.60} ({type(req).__name__})")
    missing = [k for k in keys if k not in req]
    if missing:
        raise ArgumentError(f"{name} must hold the keys {list(keys)}; {', '.join(map(repr, missing))} missing")
    return req


class Server:
    """Serves the grader's requests on the objects of the namespace ``user_ns`` (the learner's globals)."""

    def __init__(self, user_ns: dict):
        if not isinstance(user_ns, dict):
            raise ArgumentError(f"user_ns must be a dict (the learner's namespace); got {user_ns!r:.60} "
                                f"({type(user_ns).__name__})")
        self.ns = user_ns
        self.handles: dict[int, object] = {}

    def _handle_of(self, name: str, hid):
        if type(hid) is not int or hid not in self.handles:
            raise ArgumentError(f"{name} must be the id of a handle (an int in [1, {len(self.handles)}]); got "
                                f"{hid!r:.60} ({type(hid).__name__})")
        return self.handles[hid]

    def handle(self, x):
        hid = len(self.handles) + 1
        self.handles[hid] = x
        kind = "class" if isinstance(x, type) else "function" if callable(x) else "object"
        name = getattr(x, "__name__", None) if kind != "object" else type(x).__name__
        return {"$h": [hid, kind, str(name)[:200], bool(callable(x))]}

    def hook(self, tag, body):
        if not isinstance(tag, str):
            raise ArgumentError(f"tag must be a str (a message's tag such as '$h'); got {tag!r:.60} "
                                f"({type(tag).__name__})")
        if tag == "$h":
            return self._handle_of("body", body)
        if tag == "$q":  # a collapse_lab function or class, by qualified name
            if not isinstance(body, str) or body.count(":") != 1:
                raise ArgumentError(f"body must be a qualified name 'module:name' of collapse_lab; got {body!r:.60}")
            module, qual = body.split(":")
            if module != "collapse_lab" and not module.startswith("collapse_lab."):
                raise ArgumentError(f"body must name a collapse_lab object; got {body!r:.200}")
            try:
                obj = importlib.import_module(module)
                for part in qual.split("."):
                    obj = getattr(obj, part)
            except (ImportError, AttributeError) as e:
                raise ArgumentError(f"body must name a collapse_lab object; {body!r:.200} does not ({e})") from None
            return obj
        return NotImplemented

    def encode(self, x):
        return Encoder(self.handle)(x)

    def call(self, req):
        """Call a learner's function ``repeat`` times on the same arguments (decoded afresh each time; the
        Generators shared, so they advance as in repeated calls): :func:`.batching.run_ahead`."""
        fn = self._handle_of("req['h']", _request("req", req, "h", "args", "kw").get("h"))
        states, repeat = req.get("gens", []), req.get("repeat", 1)
        if type(states) is not list:
            raise ArgumentError(f"req['gens'] must be a list of Generator states; got {type(states).__name__}")
        if isinstance(repeat, bool) or not isinstance(repeat, int):
            raise ArgumentError(f"req['repeat'] must be an int; got {repeat!r:.60}")
        sub = Decoder()
        gens = [generator(sub(st)) for st in states]
        return {"batch": run_ahead(lambda: self.call_once(fn, req, gens), repeat, error_reply)}

    def call_once(self, fn, req, gens):
        """One call of ``fn`` on the arguments of ``req`` (``req['args']``, ``req['kw']``: encoded), with the
        Generators ``gens`` (a list) the arguments refer to; returns the reply."""
        if not callable(fn):
            raise ArgumentError(f"fn must be callable (the learner's function); got {fn!r:.60} ({type(fn).__name__})")
        _request("req", req, "args", "kw")
        if not (isinstance(gens, list) and all(isinstance(g, np.random.Generator) for g in gens)):
            raise ArgumentError(f"gens must be a list of numpy Generators (those req refers to); got {gens!r:.60} "
                                f"({type(gens).__name__})")
        dec = Decoder(self.hook, gens=gens)
        args, kw = dec(req["args"]), dec(req["kw"])
        slots = dec.slots
        before = [s.copy() if isinstance(s, np.ndarray) else s.detach().clone() if is_tensor(s) else None
                  for s in slots]
        leaves = [s for s in slots if is_tensor(s) and s.requires_grad]
        # lists passed as arguments: what a call did to them (sort, append, pop, item assignment) goes back
        lists = [(i, x, list(x)) for i, x in [*enumerate(args), *kw.items()] if type(x) is list]
        rng0 = _global_rng()
        result = fn(*args, **kw)
        changed = _global_rng() != rng0
        relisted = [[i, self.encode(x)] for i, x, b in lists
                    if len(x) != len(b) or any(u is not v for u, v in zip(x, b))]
        back = []
        for i, (s, b) in enumerate(zip(slots, before)):
            if isinstance(s, np.ndarray):
                if s.shape != b.shape or not np.array_equal(s, b, equal_nan=s.dtype.kind in "fc"):
                    back.append([i, Encoder()(s)])
            elif is_tensor(s):
                if s.shape != b.shape or not bool((s.detach() == b).all()):
                    back.append([i, Encoder.tensor(s.detach())])
        grads = None
        if leaves and is_tensor(result) and result.requires_grad and result.numel() == 1:
            import torch

            got = torch.autograd.grad(result.reshape(()), leaves, allow_unused=True)
            grads = [None if g is None else Encoder.tensor(g) for g in got]
        return {"ok": self.encode(result), "back": back, "gens": [Encoder()(g.bit_generator.state) for g in gens],
                "rng": bool(changed), "grads": grads, "lists": relisted}

    def answer(self, req):
        op = _request("req", req, "op")["op"]
        if op == "eval":
            expr = _request("req", req, "expr")["expr"]
            if not isinstance(expr, str):
                raise ArgumentError(f"req['expr'] must be a str (an expression); got {type(expr).__name__}")
            return {"ok": self.encode(eval(expr, self.ns))}
        if op == "getattr":
            obj = self._handle_of("req['h']", _request("req", req, "h", "name")["h"])
            if not isinstance(req["name"], str):
                raise ArgumentError(f"req['name'] must be a str (an attribute); got {type(req['name']).__name__}")
            return {"ok": self.encode(getattr(obj, req["name"]))}
        if op == "call":
            return self.call(req)
        raise ArgumentError(f"req['op'] must be 'eval', 'getattr' or 'call'; got {op!r:.60}")

    def serve(self, path: str) -> None:
        """Connect to the grader's Unix socket ``path`` (a str) and serve until it says bye."""
        if not isinstance(path, str) or not path:
            raise ArgumentError(f"path must be a non-empty str (a Unix socket's path); got {path!r:.60}")
        self.loop(unix_socket(path, connect=True))

    def loop(self, sock) -> None:
        """Answer requests on ``sock`` (a connected socket) until the grader says bye or closes it."""
        for m in ("recv", "sendall", "close"):
            if not callable(getattr(sock, m, None)):
                raise ArgumentError(f"sock must be a connected socket (with recv, sendall, close); got {sock!r:.60}")
        while True:
            try:
                req = recv(sock)
                if req.get("op") == "bye":
                    break
                try:
                    reply = self.answer(req)
                except BaseException as e:  # noqa: BLE001 - the learner's error goes back as data
                    reply = error_reply(e)
                data = dumps(reply)
                if len(data) > MAX_BYTES:
                    data = dumps({"err": ["ValueError", f"the result is larger than {MAX_BYTES >> 20} MB", True]})
                sock.sendall(len(data).to_bytes(8, "big") + data)
            except KeyboardInterrupt:  # an interrupt that came between two requests
                continue
            except EOFError:
                break
        sock.close()
