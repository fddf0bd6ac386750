"""The kernel side of grading: serve the grader's requests on a Unix socket, inside the learner's kernel.

The grader sends this file's source (with :mod:`.wire`'s) as one cell, after the learner's notebook ran. It connects
to the grader, then evaluates expressions in the learner's namespace, calls the learner's functions on the grader's
plain data, and sends back plain data. Nothing here is trusted by the grader: the learner's code may have changed
anything in this process, so every reply is checked in the grader's process.
"""
from __future__ import annotations

import importlib
import socket
import sys
import time

import numpy as np

from .wire import MAX_BYTES, Decoder, Encoder, dumps, generator, recv  # GRADER-STRIP


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


def _is_tensor(x):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


class Server:
    def __init__(self, user_ns: dict):
        self.ns = user_ns
        self.handles: dict[int, object] = {}

    def handle(self, x):
        hid = len(self.handles) + 1
        self.handles[hid] = x
        kind = "class" if isinstance(x, type) else "function" if callable(x) else "object"
        name = getattr(x, "__name__", None) if kind != "object" else type(x).__name__
        return {"$h": [hid, kind, str(name)[:200], bool(callable(x))]}

    def hook(self, tag, body):
        if tag == "$h":
            return self.handles[body]
        if tag == "$q":  # a collapse_lab function or class, by qualified name
            module, qual = body.split(":")
            if module != "collapse_lab" and not module.startswith("collapse_lab."):
                raise ValueError(f"not a collapse_lab object: {body}")
            obj = importlib.import_module(module)
            for part in qual.split("."):
                obj = getattr(obj, part)
            return obj
        return NotImplemented

    def encode(self, x):
        return Encoder(self.handle)(x)

    def call(self, req):
        """Call a learner's function ``repeat`` times on the same arguments (decoded afresh each time; the
        Generators shared, so they advance as in repeated calls); stop early after an error or 0.25 s."""
        fn = self.handles[req["h"]]
        sub = Decoder()
        gens = [generator(sub(st)) for st in req.get("gens", [])]
        replies, t0 = [], time.monotonic()
        for j in range(max(1, min(int(req.get("repeat", 1)), 1024))):
            if j and time.monotonic() - t0 > 0.25:
                break
            try:
                replies.append(self.call_once(fn, req, gens))
            except BaseException as e:  # noqa: BLE001 - the learner's error goes back as data
                replies.append({"err": [type(e).__name__, str(e)[:4000], isinstance(e, Exception)]})
                break
        return {"batch": replies}

    def call_once(self, fn, req, gens):
        dec = Decoder(self.hook, gens=gens)
        args, kw = dec(req["args"]), dec(req["kw"])
        slots = dec.slots
        before = [s.copy() if isinstance(s, np.ndarray) else s.detach().clone() if _is_tensor(s) else None
                  for s in slots]
        leaves = [s for s in slots if _is_tensor(s) and s.requires_grad]
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
            elif _is_tensor(s):
                if s.shape != b.shape or not bool((s.detach() == b).all()):
                    back.append([i, Encoder.tensor(s.detach())])
        grads = None
        if leaves and _is_tensor(result) and result.requires_grad and result.numel() == 1:
            import torch

            got = torch.autograd.grad(result.reshape(()), leaves, allow_unused=True)
            grads = [None if g is None else Encoder.tensor(g) for g in got]
        return {"ok": self.encode(result), "back": back, "gens": [Encoder()(g.bit_generator.state) for g in gens],
                "rng": bool(changed), "grads": grads, "lists": relisted}

    def answer(self, req):
        op = req["op"]
        if op == "eval":
            return {"ok": self.encode(eval(req["expr"], self.ns))}
        if op == "getattr":
            return {"ok": self.encode(getattr(self.handles[req["h"]], req["name"]))}
        if op == "call":
            return self.call(req)
        raise ValueError(f"unknown request {op!r}")

    def serve(self, path: str) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        self.loop(sock)

    def loop(self, sock) -> None:
        while True:
            try:
                req = recv(sock)
                if req.get("op") == "bye":
                    break
                try:
                    reply = self.answer(req)
                except BaseException as e:  # noqa: BLE001 - the learner's error goes back as data
                    reply = {"err": [type(e).__name__, str(e)[:4000], isinstance(e, Exception)]}
                data = dumps(reply)
                if len(data) > MAX_BYTES:
                    data = dumps({"err": ["ValueError", f"the result is larger than {MAX_BYTES >> 20} MB", True]})
                sock.sendall(len(data).to_bytes(8, "big") + data)
            except KeyboardInterrupt:  # an interrupt that came between two requests
                continue
            except EOFError:
                break
        sock.close()
