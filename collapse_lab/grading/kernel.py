"""A learner's kernel in a sandbox folder (inside bubblewrap when available), run cell by cell with time limits."""
from __future__ import annotations

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


def _shim_source() -> str:
    here = Path(__file__).resolve().parent
    # the kernel's own ArgumentError (wire.py imports collapse_lab's, on a line stripped here): the kernel's side
    # imports nothing of collapse_lab, whatever the learner's notebook did to it
    parts = ["class ArgumentError(TypeError, ValueError):", "    pass", ""]
    for name in ("wire.py", "shim.py"):
        lines = (here / name).read_text(encoding="utf-8").splitlines()
        parts += [ln for ln in lines if "GRADER-STRIP" not in ln and not ln.startswith("from __future__")]
    return "\n".join(parts)


SHIM = _shim_source()  # read once, when the grader starts, before any learner code ran


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
        self.kc = None
        self.exit_reason = None

    # -- start and stop -------------------------------------------------------------------------------------------
    def command(self, connection_file: Path) -> list[str]:
        """The command line starting the kernel with ``connection_file`` (a path), inside bubblewrap if set."""
        connection_file = validate.path("connection_file", connection_file, kind="file")
        cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection_file),
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

    def start(self) -> None:
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        import zmq

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
        conn, _ = write_connection_file(str(kdir / "kernel.json"), ip=str(kdir / "s"), transport="ipc",
                                        key=secrets.token_hex(16).encode())
        env = dict(self.env, HOME=str(self.sandbox / "home"), TMPDIR=str(self.sandbox / "tmp"))
        self.log = kdir / "stderr"
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(self.command(Path(conn)), env=env, cwd=str(self.sandbox),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         start_new_session=True)
        ctx = zmq.Context()
        ctx.setsockopt(zmq.MAXMSGSIZE, 64 * 2**20)  # a kernel flooding its output cannot exhaust the grader's memory
        ctx.setsockopt(zmq.RCVHWM, 200)
        self.kc = BlockingKernelClient(context=ctx)
        self.kc.load_connection_file(conn)
        self.kc.start_channels()
        t0 = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise remote.KernelGone(f"the kernel did not start (exit code {self.proc.returncode}): "
                                        f"{self._log_tail()}")
            try:
                self.kc.wait_for_ready(timeout=2)
                break
            except RuntimeError:
                if time.monotonic() - t0 > self.startup_timeout:
                    raise remote.KernelGone(f"the kernel did not start within {self.startup_timeout:g} s") from None

    def _log_tail(self) -> str:
        try:
            with open(self.log, "rb") as f:
                lines = f.read(20000).decode("utf-8", "replace").strip().splitlines()
            return lines[-1][:300] if lines else ""
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _pids(self) -> list[int]:
        """The kernel's processes (bubblewrap's own excluded: signalling it would end the sandbox)."""
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            if comm != "bwrap":
                out.append(pid)
            todo += [int(k) for k in kids]
        return out

    def interrupt(self) -> None:
        for pid in self._pids():
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass

    def stop(self) -> None:
        if self.kc is not None:
            try:
                self.kc.stop_channels()
                self.kc.context.destroy(linger=0)
            except Exception:  # noqa: BLE001 - tearing down
                pass
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    # -- running cells -----------------------------------------------------------------------------------------------
    def run_cell(self, source: str, timeout: float, deadline: float) -> dict:
        """Execute one cell; returns its execute_reply content, plus ``timed_out`` when it was interrupted.
        Raises :class:`remote.KernelGone` or :class:`remote.OutOfTime`. ``source``: a str; ``timeout``: seconds
        (> 0, inf for none); ``deadline``: the time.monotonic() at which the notebook's time runs out (inf: none)."""
        if not isinstance(source, str):
            raise ArgumentError(f"source must be a str (a cell's code); got {source!r:.60} ({type(source).__name__})")
        timeout, deadline = remote._seconds("timeout", timeout), remote._deadline("deadline", deadline)
        msg_id = self.kc.execute(source, store_history=True, allow_stdin=False, stop_on_error=False)
        stop = min(time.monotonic() + timeout, deadline)
        interrupted = None
        while True:
            self._drain()
            try:
                msg = self.kc.get_shell_msg(timeout=0.1)
            except Exception:  # queue.Empty
                msg = None
            if msg is not None and msg.get("parent_header", {}).get("msg_id") == msg_id:
                content = dict(msg.get("content", {}))
                content["timed_out"] = interrupted is not None
                return content
            if not self.alive():
                raise remote.KernelGone(f"the kernel died (exit code {self.proc.returncode})")
            now = time.monotonic()
            if interrupted is None and now > stop:
                if now >= deadline:
                    raise remote.OutOfTime()
                self.interrupt()
                interrupted = now
            elif interrupted is not None and now > interrupted + GRACE:
                raise remote.KernelGone(f"timed out: a cell ran longer than {timeout:g} s (--timeout) and did not stop "
                                        "when interrupted")

    def _shell_reply(self, msg_id: str):
        try:
            while True:
                msg = self.kc.get_shell_msg(timeout=0)
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return dict(msg.get("content", {}))
        except Exception:  # noqa: BLE001 - queue.Empty: no reply yet
            return None

    def _drain(self) -> None:
        try:
            while self.kc.iopub_channel.msg_ready():
                self.kc.iopub_channel.get_msg(timeout=0)
        except Exception:  # noqa: BLE001 - output never counts
            pass

    def open_channel(self, timeout: float, deadline: float) -> remote.Channel:
        """Start the shim in the kernel and connect to it; ``timeout`` and ``deadline`` as for :meth:`run_cell`."""
        timeout, deadline = remote._seconds("timeout", timeout), remote._deadline("deadline", deadline)
        path = self.sandbox / f".g{secrets.token_hex(6)}"
        server = wire.unix_socket(str(path), connect=False)
        server.listen(1)
        code = ("def _collapse_lab_grader(src, path, ns):\n"
                "    g = {'__name__': 'collapse_lab_grader_shim'}\n"
                "    exec(compile(src, '<collapse-lab grader>', 'exec'), g)\n"
                "    g['Server'](ns).serve(path)\n"
                f"_collapse_lab_grader({SHIM!r}, {str(path)!r}, globals())\n")
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        server.settimeout(0.2)
        t0 = time.monotonic()
        try:
            while True:
                try:
                    conn, _ = server.accept()
                    break
                except (TimeoutError, socket.timeout):
                    self._drain()
                    reply = self._shell_reply(msg_id)
                    if reply is not None:  # the server ended before it connected: the notebook broke its kernel
                        raise remote.KernelGone("the notebook left its kernel unable to run the grader's server "
                                                f"({reply.get('ename')}: {str(reply.get('evalue'))[:200]})")
                    if not self.alive():
                        raise remote.KernelGone(f"the kernel died (exit code {self.proc.returncode})") from None
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
