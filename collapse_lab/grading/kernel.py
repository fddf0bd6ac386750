"""A learner's kernel in a sandbox folder (inside bubblewrap when available), run by nbclient with time limits.

The kernel's command is the sandbox line (bubblewrap, ``prlimit`` for the memory cap, ``ipykernel``), given to
nbclient as a kernelspec made here; interrupts go by message (``interrupt_mode: message``), so the kernel
interrupts itself and no signal has to reach past bubblewrap. The cells run in :class:`collapse_lab.runner.Client`,
the course's one notebook runner; the grading RPC (:mod:`.remote` here, :mod:`.shim` in the kernel) then runs over
a Unix socket, the shim started as one more execute request on nbclient's kernel client.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .. import validate
from ..validate import ArgumentError
from . import remote, wire

BWRAP = "/usr/bin/bwrap"
GRACE = 5.0  # seconds a kernel gets to stop after an interrupt
# nbclient's own log lines ('Kernel died...'): the grader reports each failure in the submission's row instead
_LOG = logging.getLogger(__name__)
_LOG.addHandler(logging.NullHandler())
_LOG.propagate = False


def bwrap_path() -> str | None:
    """The bubblewrap executable, or None."""
    return shutil.which("bwrap") or (BWRAP if os.access(BWRAP, os.X_OK) else None)


def probe_bwrap(bwrap: str) -> str:
    """'' when bubblewrap (the executable ``bwrap``, a path) can make this grader's sandbox here, else its error."""
    bwrap = str(validate.path("bwrap", bwrap))
    uid, gid = os.getuid() or 1000, os.getgid() or 1000
    try:
        p = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
                            "--unshare-user", "--uid", str(uid), "--gid", str(gid), "--cap-drop", "ALL",
                            "--die-with-parent", "true"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return "" if p.returncode == 0 else (p.stderr.strip() or f"exit code {p.returncode}")


def _under(path: Path, parent: Path) -> bool:
    return path != parent and parent in path.parents


def _paths(name: str, value) -> list[Path]:
    """A list or tuple of paths (str or os.PathLike), as Paths."""
    if not isinstance(value, (list, tuple)):
        raise ArgumentError(f"{name} must be a list or tuple of paths; got {value!r:.60} ({type(value).__name__})")
    return [validate.path(f"{name}[{i}]", p) for i, p in enumerate(value)]


def _matplotlib_cache() -> Path:
    env = os.environ.get("MPLCONFIGDIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "matplotlib"


def _manager_class():
    """nbclient's async kernel manager with the sandbox line as its kernelspec (made on first use: the grader
    imports jupyter_client only when it starts a kernel)."""
    global _Manager
    if _Manager is None:
        from jupyter_client.kernelspec import KernelSpec
        from jupyter_client.manager import AsyncKernelManager
        from traitlets import Any, List, Unicode

        class SandboxManager(AsyncKernelManager):
            """A kernel manager whose kernel command is ``argv`` (``{connection_file}`` filled in), interrupted by
            message; its clients use ``client_context`` (a zmq context with message-size limits)."""
            argv = List(Unicode())
            client_context = Any()

            @property
            def kernel_spec(self):
                return KernelSpec(argv=list(self.argv), display_name="collapse-lab sandbox", language="python",
                                  interrupt_mode="message")

            def client(self, **kw):
                return super().client(**{"context": self.client_context, **kw})

        _Manager = SandboxManager
    return _Manager


_Manager = None


class Kernel:
    """One learner's kernel: started in ``sandbox`` (cwd, HOME and TMPDIR inside it), optionally inside bubblewrap
    with ``hidden`` folders invisible and ``needed`` ones visible read-only.

    ``sandbox``: a folder (path); ``env``: the kernel's environment (a dict of str to str); ``bwrap``: the
    bubblewrap executable (a path) or None (no sandbox); ``hidden``, ``needed``: lists or tuples of paths;
    ``startup_timeout``: seconds (> 0) the kernel gets to start; ``memory``: the kernel's address-space cap in
    bytes (RLIMIT_AS, set by ``prlimit``; None: none)."""

    def __init__(self, sandbox: Path, env: dict, bwrap: str | None = None, hidden=(), needed=(),
                 startup_timeout: float = 120, memory: int | None = None):
        self.sandbox = validate.path("sandbox", sandbox, kind="dir")
        if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
            raise ArgumentError(f"env must be a dict of str to str (environment variables); got {env!r:.80}")
        self.env = env
        self.bwrap = None if bwrap is None else str(validate.path("bwrap", bwrap))
        self.hidden = _paths("hidden", hidden)
        self.needed = _paths("needed", needed)
        self.startup_timeout = validate.number("startup_timeout", startup_timeout, lo=0, lo_open=True)
        self.memory = None if memory is None else validate.integer("memory", memory, lo=2**26, hi=2**50)
        self.proc = None
        self.client = None
        self.kc = None

    # -- start and stop -------------------------------------------------------------------------------------------
    def command(self, connection_file: Path) -> list[str]:
        """The command line starting the kernel with ``connection_file`` (a path), inside bubblewrap if set."""
        connection_file = validate.path("connection_file", connection_file, kind="file")
        return self._argv(str(connection_file))

    def _argv(self, connection_file: str) -> list[str]:
        cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file,
               "--IPKernelApp.log_level=ERROR", "--HistoryManager.enabled=False"]
        if self.memory is not None:  # an allocation past the cap fails (MemoryError) instead of starving the machine
            cmd = [shutil.which("prlimit") or "/usr/bin/prlimit", f"--as={self.memory}", "--", *cmd]
        if not self.bwrap:
            return cmd
        ops = []  # (depth, order, args): deeper mounts after shallower ones, so they win
        for d in ["/tmp", "/var/tmp", "/run", "/dev/shm", *map(str, self.hidden)]:
            p = Path(d)
            if p.is_dir() and p != Path("/"):
                ops.append((len(p.parts), 0, ["--tmpfs", str(p)]))
                for n in self.needed:
                    if _under(n, p) and n.exists():
                        ops.append((len(n.parts), 1, ["--ro-bind", str(n), str(n)]))
        ops.append((len(self.sandbox.parts), 2, ["--bind", str(self.sandbox), str(self.sandbox)]))
        args = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        for _, _, a in sorted(ops, key=lambda o: (o[0], o[1])):
            args += a
        uid = os.getuid() or 1000
        gid = os.getgid() or 1000
        args += ["--unshare-all", "--unshare-user", "--uid", str(uid), "--gid", str(gid), "--cap-drop", "ALL",
                 "--die-with-parent", "--chdir", str(self.sandbox), "--"]
        return args + cmd

    def _prepare(self) -> Path:
        """The sandbox's folders (home, tmp, the kernel's own .k) and matplotlib's font list; returns .k."""
        kdir = self.sandbox / ".k"
        kdir.mkdir(parents=True, exist_ok=True)
        for sub in ("home", "tmp"):
            (self.sandbox / sub).mkdir(exist_ok=True)
        mpl = _matplotlib_cache()
        if mpl.is_dir():  # the font list, so that matplotlib does not rebuild it in every sandbox
            dst = self.sandbox / "home" / ".cache" / "matplotlib"
            dst.mkdir(parents=True, exist_ok=True)
            for f in mpl.glob("fontlist-*.json"):
                shutil.copy2(f, dst / f.name)
        return kdir

    def start(self) -> None:
        """Start the kernel through nbclient (its environment: ``env`` with HOME and TMPDIR in the sandbox)."""
        import zmq
        import zmq.asyncio
        from nbformat import NotebookNode

        from ..runner import Client

        kdir = self._prepare()
        ctx = zmq.asyncio.Context()
        ctx.setsockopt(zmq.MAXMSGSIZE, 64 * 2**20)  # a kernel flooding its output cannot exhaust the grader's memory
        ctx.setsockopt(zmq.RCVHWM, 200)
        self._ctx = ctx
        # ipc sockets in the sandbox folder: bubblewrap gives the kernel no network, not even loopback
        km = _manager_class()(argv=self._argv("{connection_file}"), client_context=ctx, transport="ipc",
                              ip=str(kdir / "s"), connection_file=str(kdir / "kernel.json"))
        self.client = Client(NotebookNode(cells=[], metadata={}, nbformat=4, nbformat_minor=5), km=km,
                             allow_errors=True, interrupt_on_timeout=True, keep_outputs=False, grace=GRACE,
                             startup_timeout=max(1, int(self.startup_timeout)), shutdown_kernel="immediate",
                             record_timing=False, log=_LOG)
        env = dict(self.env, HOME=str(self.sandbox / "home"), TMPDIR=str(self.sandbox / "tmp"))
        self.log = kdir / "stderr"
        with open(self.log, "wb") as err:
            # independent: no JPY_PARENT_PID, whose parent poller would end a kernel that sees bubblewrap's
            # init as its parent; --die-with-parent ties the sandbox to the grader instead
            self.client.start_new_kernel(env=env, cwd=str(self.sandbox), stdout=subprocess.DEVNULL, stderr=err,
                                         independent=True)
        self.proc = km.provisioner.process
        try:
            self.client.start_new_kernel_client()
        except RuntimeError:
            if self.proc.poll() is not None:
                raise remote.KernelGone(f"the kernel did not start (exit code {self.proc.returncode}): "
                                        f"{self._log_tail()}") from None
            raise remote.KernelGone(f"the kernel did not start within {self.startup_timeout:g} s") from None
        self.kc = self.client.kc

    def _log_tail(self) -> str:
        try:
            with open(self.log, "rb") as f:
                lines = f.read(20000).decode("utf-8", "replace").strip().splitlines()
            return lines[-1][:300] if lines else ""
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def interrupt(self) -> None:
        """Interrupt the kernel by message (it raises KeyboardInterrupt in the learner's code)."""
        from nbclient.util import run_sync

        try:
            run_sync(self.client.km.interrupt_kernel)()
        except Exception:  # noqa: BLE001 - a kernel already gone: the caller's time limit reports it
            pass

    def stop(self) -> None:
        from nbclient.util import run_sync

        km = getattr(self.client, "km", None) if self.client is not None else None
        if km is not None:
            try:
                run_sync(km.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001 - tearing down
                pass
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:  # noqa: BLE001 - tearing down
                pass
        if self.proc is not None and self.proc.poll() is None:  # not stopped by the manager: the whole group
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if getattr(self, "_ctx", None) is not None:
            self._ctx.destroy(linger=0)
            self._ctx = None

    # -- running cells -----------------------------------------------------------------------------------------------
    def run(self, sources: list, timeout: float, deadline: float) -> list[dict]:
        """Execute the cells ``sources`` (a list of str) in turn with nbclient; returns each one's execute_reply
        content. Raises :class:`remote.KernelGone`
        (the kernel died, or a cell did not stop when interrupted) or :class:`remote.OutOfTime`. ``timeout``:
        seconds per cell (> 0, inf for none); ``deadline``: the time.monotonic() at which the notebook's time runs
        out (inf: none)."""
        from nbclient.exceptions import DeadKernelError
        from nbformat import NotebookNode

        from ..runner import CellStuck, RunOutOfTime

        if not (isinstance(sources, list) and all(isinstance(s, str) for s in sources)):
            raise ArgumentError(f"sources must be a list of str (the cells' code); got {sources!r:.60} "
                                f"({type(sources).__name__})")
        timeout, deadline = remote._seconds("timeout", timeout), remote._deadline("deadline", deadline)
        c = self.client
        c.cell_timeout, c.deadline = timeout, deadline
        c.nb.cells = [NotebookNode(cell_type="code", source=s, metadata=NotebookNode(), outputs=[],
                                   execution_count=None) for s in sources]
        replies: list[dict] = []
        c.on_cell_executed = lambda execute_reply, **_: replies.append(dict(execute_reply.get("content", {})))
        for i, cell in enumerate(c.nb.cells):
            n = len(replies)
            try:
                c.execute_cell(cell, i)
            except DeadKernelError:
                raise remote.KernelGone(f"the kernel died (exit code {self.proc.poll()})") from None
            except RunOutOfTime:
                raise remote.OutOfTime() from None
            except CellStuck:
                if not self.alive():  # it ended during the grace instead of returning
                    raise remote.KernelGone(f"the kernel died (exit code {self.proc.poll()})") from None
                raise remote.KernelGone(f"timed out: a cell ran longer than {timeout:g} s (--timeout) and did not "
                                        "stop when interrupted") from None
            if len(replies) == n:  # an empty cell: nothing ran
                replies.append({"status": "ok"})
        return replies

    def _shell_reply(self, msg_id: str):
        """The reply to ``msg_id`` if it has come, else None."""
        from queue import Empty

        from nbclient.util import run_sync

        try:
            while True:
                msg = run_sync(self.kc.shell_channel.get_msg)(timeout=0)
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return dict(msg.get("content", {}))
        except Empty:
            return None

    def open_channel(self, timeout: float, deadline: float) -> remote.Channel:
        """Start the shim in the kernel and connect to it; ``timeout`` and ``deadline`` as for :meth:`run`.

        The kernel imports the shim as a module (:mod:`collapse_lab.grading.shim` of the package it sees: the
        keyless copy, read-only, when graded) and serves on a socket in the sandbox; nothing is left in the
        learner's namespace."""
        timeout, deadline = remote._seconds("timeout", timeout), remote._deadline("deadline", deadline)
        path = self.sandbox / f".g{secrets.token_hex(6)}"
        server = wire.unix_socket(str(path), connect=False)
        server.listen(1)
        code = f"__import__('collapse_lab.grading.shim', fromlist=['Server']).Server(globals()).serve({str(path)!r})"
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        server.settimeout(0.2)
        t0 = time.monotonic()
        try:
            while True:
                try:
                    conn, _ = server.accept()
                    break
                except (TimeoutError, socket.timeout):
                    reply = self._shell_reply(msg_id)
                    if reply is not None:  # the server ended before it connected: the notebook broke its kernel
                        raise remote.KernelGone("the notebook left its kernel unable to run the grader's server "
                                                f"({reply.get('ename')}: {str(reply.get('evalue'))[:200]})")
                    if not self.alive():
                        raise remote.KernelGone(f"the kernel died (exit code {self.proc.returncode})") from None
                    if time.monotonic() >= deadline:  # the notebook's time is up, as during its cells
                        raise remote.OutOfTime() from None
                    if time.monotonic() - t0 > 60:
                        raise remote.KernelGone("the kernel did not connect back to the grader") from None
        finally:
            server.close()
        return remote.Channel(conn, timeout, deadline, self.interrupt)

    def close_channel(self, channel: remote.Channel) -> None:
        """Tell the shim on ``channel`` (from :meth:`open_channel`) to stop, and close it."""
        if not isinstance(channel, remote.Channel):
            raise ArgumentError(f"channel must be a remote.Channel (from open_channel); got {channel!r:.60}")
        try:
            channel.sock.settimeout(1)
            wire.send(channel.sock, {"op": "bye"})
        except OSError:
            pass
        channel.sock.close()
