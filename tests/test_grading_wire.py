"""The plain-data wire and the proxies, in one process (the kernel's shim on a thread, over a socket pair)."""
import socket
import threading

import numpy as np
import pytest

from collapse_lab.checks import core
from collapse_lab.grading import remote, shim, wire


def roundtrip(x):
    enc = wire.Encoder()
    return wire.Decoder()(wire.loads(wire.dumps(enc(x))))


def test_plain_values_keep_their_types():
    x = {"a": (1, 2.5, None, True, "s"), 3: [np.float64(1.5), np.int32(-2), np.bool_(True)],
         (1, "k"): np.arange(6, dtype=np.int16).reshape(2, 3), "nan": float("nan"), "z": np.array(2.0)}
    y = roundtrip(x)
    assert isinstance(y["a"], tuple) and y["a"][:2] == (1, 2.5) and type(y["a"][1]) is float
    assert type(y[3][0]) is np.float64 and type(y[3][1]) is np.int32 and type(y[3][2]) is np.bool_
    assert y[(1, "k")].dtype == np.int16 and y[(1, "k")].shape == (2, 3) and y[(1, "k")][1, 2] == 5
    assert np.isnan(y["nan"]) and y["z"].shape == () and y["z"] == 2.0
    g = np.random.default_rng(3)
    g2 = roundtrip(g)
    assert g2.random() == g.random()


def test_decoding_refuses_what_is_not_plain_data():
    dec = wire.Decoder()
    for bad in ({"$a": ["O8", [1], "AAAAAAAAAAA="]}, {"$a": ["f8", [2], "AAAAAAAAAAA="]}, {"$x": 1},
                {"$g": {"$d": [["bit_generator", "Evil"]]}}, {"a": 1, "b": 2}, {"$f": "1e999"}):
        with pytest.raises(wire.WireError):
            dec(bad)
    with pytest.raises(wire.WireError, match="elements"):
        wire.Decoder(max_elements=10)(wire.Encoder()(np.zeros(11)))
    with pytest.raises(wire.WireError, match="bytes"):
        wire.loads(b"[" * 100, limit=50)
    with pytest.raises(wire.WireError):
        wire.Encoder()(object())
    with pytest.raises(wire.WireError):
        wire.Encoder()(np.array([object()]))


@pytest.fixture
def kernel():
    """A Server (the kernel's side) on a thread, and the grader's channel to it."""
    ns = {}
    a, b = socket.socketpair()
    srv = shim.Server(ns)
    t = threading.Thread(target=srv.loop, args=(b,), daemon=True)
    t.start()
    ch = remote.Channel(a, timeout=30, deadline=float("inf"), on_timeout=lambda: None)
    yield ns, ch
    wire.send(a, {"op": "bye"})
    t.join(5)


def test_calls_copy_back_arrays_and_sync_generators(kernel):
    ns, ch = kernel
    exec("import numpy as np\n"
         "def fill(a, rng):\n    a[:] = rng.random(a.size)\n"
         "def noisy(x):\n    return x + np.random.random()\n"
         "def draw(rng):\n    return rng.normal()\n", ns)
    fill = remote.evaluate(ch, "fill")
    a, rng, ref = np.zeros(4), np.random.default_rng(5), np.random.default_rng(5)
    assert core.call(fill, a, rng) is None
    assert np.array_equal(a, ref.random(4)) and rng.random() == ref.random()
    assert core.last_call()["global_rng_changed"] is False
    core.call(remote.evaluate(ch, "noisy"), 1.0)
    assert core.last_call()["global_rng_changed"] is True
    draw = remote.evaluate(ch, "draw")
    rng, ref = np.random.default_rng(9), np.random.default_rng(9)
    calls = ch.calls
    got = [draw(rng) for _ in range(500)]
    assert got == [ref.normal() for _ in range(500)] and type(got[0]) is float
    assert ch.calls - calls < 60  # repeated calls travel in batches
    rng.random()  # the check used the generator itself: the next call is computed afresh
    assert draw(rng) == (ref.random(), ref.normal())[1]


def test_the_plain_path_gives_the_batched_draws():
    """A channel without batching: the same draws, one round trip per call."""
    ns = {}
    a, b = socket.socketpair()
    t = threading.Thread(target=shim.Server(ns).loop, args=(b,), daemon=True)
    t.start()
    ch = remote.Channel(a, timeout=30, deadline=float("inf"), on_timeout=lambda: None, batching=False)
    exec("def draw(rng):\n    return rng.normal()\n", ns)
    draw = remote.evaluate(ch, "draw")
    rng, ref = np.random.default_rng(9), np.random.default_rng(9)
    calls = ch.calls
    assert [draw(rng) for _ in range(50)] == [ref.normal() for _ in range(50)]
    assert ch.calls - calls == 50
    wire.send(a, {"op": "bye"})
    t.join(5)


def test_errors_values_classes_and_objects(kernel):
    ns, ch = kernel
    exec("def todo(x):\n    raise NotImplementedError()\n"
         "def crash(x):\n    raise KeyError('k')\n"
         "class Counter:\n    def __init__(self, step):\n        self.step = step\n"
         "    def add(self, x):\n        return x + self.step\n"
         "answer = 'b'\n", ns)
    with pytest.raises(core.CheckFailed, match="not written yet"):
        core.call(remote.evaluate(ch, "todo"), 1)
    with pytest.raises(core.CheckFailed, match="raised KeyError"):
        core.call(remote.evaluate(ch, "crash"), 1)
    with pytest.raises(NameError):
        remote.evaluate(ch, "missing")
    assert remote.evaluate(ch, "answer") == "b"
    cls = remote.evaluate(ch, "Counter")
    assert isinstance(cls, type) and cls.__name__ == "Counter" and callable(cls)
    c = core.call(cls, 2)
    assert not callable(c) and c.step == 2 and core.call(c.add, 3) == 5
    with pytest.raises(AttributeError):
        c.__array__  # dunders are not forwarded
    with pytest.raises(core.CheckFailed, match="raised CheckFailed"):  # the learner cannot raise the grader's own
        core.call(remote.evaluate(ch, "lambda: (_ for _ in ()).throw(__import__('collapse_lab.checks.core', "
                                      "fromlist=['x']).CheckFailed('fake'))"))


def test_gradients_come_back_through_autograd(kernel):
    torch = pytest.importorskip("torch")
    ns, ch = kernel
    exec("def sumsq(x, w):\n    return (w * x ** 2).sum()\n", ns)
    x = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([3.0, 0.5], dtype=torch.float64)
    y = core.call(remote.evaluate(ch, "sumsq"), x, w)
    (g,) = torch.autograd.grad(y, [x])
    assert float(y.detach()) == 5.0 and torch.allclose(g, 2 * w * x.detach())


def test_unix_socket_in_a_folder_deeper_than_an_address_holds(tmp_path):
    """A grading folder may be deeper than a Unix socket's 107-byte address: both ends still meet there."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = str(deep / ".gsock")
    assert len(path) > 110
    server = wire.unix_socket(path, connect=False)
    server.listen(1)
    client = wire.unix_socket(path, connect=True)
    conn, _ = server.accept()
    wire.send(client, {"x": 1})
    assert wire.recv(conn) == {"x": 1}
    for s in (client, conn, server):
        s.close()
    with pytest.raises(ValueError, match="path must be"):
        wire.unix_socket("", connect=True)
    with pytest.raises(TypeError):
        wire.unix_socket(path, connect="yes")
