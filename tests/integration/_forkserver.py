"""A fork server for the CLI tests: each ``molops`` command runs in its own process, forked from
one that has already imported molops and the libraries its commands load.

Most of what a short ``molops`` command costs in the suite is importing (MLflow alone is over a
second of CPU per command that opens the tracking store), and the tests run hundreds of
commands. A forked child is still a separate process with its own working directory, environment,
stdout, stderr and exit status, so the tests see what a user sees; only the imports are shared.
Whatever a fresh interpreter decides at start-up (``PYTHON*`` variables, the locale, thread pools'
sizes) cannot be changed after the fork, so a command whose environment differs there runs in a
real new process instead (:func:`needs_fresh_interpreter`); ``tests/unit/cli/test_startup.py``
keeps measuring what a fresh ``molops`` imports.

Known differences, judged harmless: every forked command shares the server's string-hash seed (set
order never varies between them, so ``MOLOPS_TEST_FRESH=1`` runs are worth making now and then); a
library's import-time warning goes to the server's log, not the command's stderr; stdout is a file,
not a pipe; the call returns when the command exits, so a background grandchild's late output is
not waited for.

The server is started per pytest process on first use and listens on a Unix socket; each call is
one connection: the request (JSON, with the stdout/stderr files passed as descriptors), then the
child's pid, then its exit status. This file is also the server's script: standard library only at
module level, since ``multiprocessing``'s spawn re-imports the main script in every worker.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import importlib
import json
import locale
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
import warnings
from pathlib import Path
from typing import Any

#: Loaded once in the server: what molops commands import, heaviest first. Optional ones may be absent.
WARM_MODULES = (
    "mlflow",
    "mlflow.pyfunc",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "pandas",
    "pyarrow",
    "pyarrow.dataset",
    "deltalake",
    "rdkit.Chem",
    "rdkit.Chem.Descriptors",
    "sklearn.ensemble",
    "sklearn.gaussian_process",
    "scipy.stats",
    "lightgbm",
    "molops.cli.main",
    "molops.workspace",
    "molops.data.ingest",
    "molops.features.store",
    "molops.tracking",
    "molops.models",
    "molops.active",
)

#: Read by the interpreter or a native library at start-up: a different value needs a fresh process.
_START_UP_PREFIXES = ("PYTHON", "LC_", "OMP_", "OPENBLAS_", "MKL_", "RAYON_", "POLARS_", "ARROW_", "MALLOC_")
_START_UP_NAMES = ("LANG", "LANGUAGE", "TZ", "LD_PRELOAD", "LD_LIBRARY_PATH")

_MAX_REQUEST = 1 << 20


def _start_up_view(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(_START_UP_PREFIXES) or k in _START_UP_NAMES}


def needs_fresh_interpreter(env: dict[str, str], server_env: dict[str, str]) -> bool:
    """Whether *env* sets a start-up variable otherwise than the server's own environment did."""
    return _start_up_view(env) != _start_up_view(server_env)


# --- the server (runs in its own process) ----------------------------------------------------------


def _warm() -> None:
    # as molops.tracking._mlflow.mlflow() imports MLflow: without MLflow's own log handlers and format,
    # which every forked command would otherwise inherit, and without its import-time warnings
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    for name in WARM_MODULES:
        try:
            with warnings.catch_warnings():
                if name.partition(".")[0] == "mlflow":
                    warnings.simplefilter("ignore")
                importlib.import_module(name)
        except ImportError:  # an optional extra not installed: its commands import it themselves
            continue
    if threading.active_count() != 1:  # forking a process with other threads can copy a held lock
        names = [t.name for t in threading.enumerate()]
        raise SystemExit(f"fork server: importing started threads {names}; it would not be safe to fork")


def _child(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become the command's process, run it, and never return."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setpgid(0, 0)  # a timeout kills the command and whatever it started
        os.umask(request["umask"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in (null, *fds):
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["prog"], *request["argv"]]
        import random

        module, _, name = request["entry"].partition(":")
        entry = getattr(importlib.import_module(module), name)
        random.seed()  # a fresh process draws its own seed; a fork would repeat the server's
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        try:
            entry()
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:  # what the interpreter does with an uncaught exception
            traceback.print_exc()
            code = 1
        threading._shutdown()  # type: ignore[attr-defined]  # as an interpreter's exit: join non-daemon threads
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF)


def serve(path: str) -> None:
    """Listen on *path* and fork one child per request until the parent process goes away."""
    parent = os.getppid()
    _warm()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    print("ready", flush=True)
    waiting: dict[int, socket.socket] = {}  # child pid -> the connection that asked for it
    while os.getppid() == parent:
        try:
            ready, _, _ = select.select([listener, wake_r], [], [], 1.0)
        except InterruptedError:
            ready = []
        if wake_r in ready:
            os.read(wake_r, 4096)
        if listener in ready:
            conn, _ = listener.accept()
            try:
                data, fds, _, _ = socket.recv_fds(conn, _MAX_REQUEST, 2)
                request = json.loads(data)
            except (OSError, ValueError):
                conn.close()
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                listener.close()
                conn.close()
                for other in waiting.values():
                    other.close()
                os.close(wake_r)
                os.close(wake_w)
                _child(request, fds)
            with contextlib.suppress(OSError):  # the child got there first, or has already exited
                os.setpgid(pid, pid)  # as the child does, so a kill right after this reply reaches it
            for fd in fds:
                os.close(fd)
            waiting[pid] = conn
            _reply(conn, {"pid": pid})
        while waiting:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = waiting.pop(pid, None)
            if conn is not None:
                _reply(conn, {"rc": os.waitstatus_to_exitcode(status)})
                conn.close()
    shutil.rmtree(Path(path).parent, ignore_errors=True)  # its parent, which made it, cannot any more


def _reply(conn: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the caller gave up (a timeout, an interrupted test)
        conn.send(json.dumps(message).encode())


# --- the client (runs in the pytest process) -------------------------------------------------------


class ForkServer:
    """The server for this pytest process, started on first use and stopped when the process exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._env: dict[str, str] = {}
        atexit.register(self.stop)

    def _socket_path(self) -> str:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            assert self._dir is not None
            return str(Path(self._dir.name) / "s")

    def _start(self) -> None:
        self.stop()  # what a server that died left: its pipe, its directory
        self._dir = tempfile.TemporaryDirectory(prefix="molops-forkserver-")
        path = str(Path(self._dir.name) / "s")
        log = Path(self._dir.name) / "server.log"
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("MOLOPS_")}
        with log.open("wb") as err:
            self._proc = subprocess.Popen(
                [sys.executable, __file__, path],
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if line.strip() != b"ready":
            self._proc.wait(timeout=30)
            raise RuntimeError(f"the molops fork server did not start:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        if self._dir is not None:
            self._dir.cleanup()

    def _reap(self) -> None:
        """Wait for a server whose sockets have closed: it is exiting, and until it has exited the next
        call would take it for alive and connect to its socket."""
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)

    def usable_for(self, env: dict[str, str]) -> bool:
        """Whether a command with *env* can be forked from the server (else it needs a fresh interpreter)."""
        base = self._env or {k: v for k, v in os.environ.items() if not k.startswith("MOLOPS_")}
        return not needs_fresh_interpreter(env, base)

    def run(
        self,
        prog: str,
        argv: list[str],
        cwd: Path | None,
        env: dict[str, str],
        timeout: float,
        entry: str = "molops.cli.main:main",
    ) -> tuple[int, str, str]:
        """Run ``entry()`` (``module:function``, by default molops's console script) as *prog* with *argv*
        to completion: (its exit status as subprocess reports it, stdout, stderr)."""
        path = self._socket_path()
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn,
        ):
            conn.connect(path)
            where = str(cwd if cwd is not None else Path.cwd())
            request = {
                "prog": prog,
                "argv": argv,
                "cwd": where,
                "env": env,
                "entry": entry,
                "umask": _umask(),
            }
            try:
                socket.send_fds(conn, [json.dumps(request).encode()], [out.fileno(), err.fileno()])
                started = conn.recv(4096)
            except ConnectionError:  # a server dying as this call connected: its socket was still there
                started = b""
            if not started:
                self._reap()
                raise RuntimeError(f"the molops fork server stopped before running {argv}")
            pid = json.loads(started)["pid"]
            conn.settimeout(timeout)
            try:
                reply = conn.recv(4096)
            except TimeoutError:
                _kill_group(pid)
                conn.settimeout(None)
                conn.recv(4096)
                raise subprocess.TimeoutExpired([prog, *argv], timeout, _read(out), _read(err)) from None
            except BaseException:  # the test was interrupted: subprocess.run kills its child then, too
                _kill_group(pid)
                raise
            if not reply:
                _kill_group(pid)  # nothing would wait for it or read its output any more
                self._reap()
                raise RuntimeError(f"the molops fork server stopped while running {argv}")
            return json.loads(reply)["rc"], _read(out), _read(err)


def _umask() -> int:
    """This process's umask, read without changing it (``os.umask`` swaps it, racing other threads)."""
    with contextlib.suppress(OSError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise


def _read(f: Any) -> str:
    """The text as ``subprocess.run(text=True)`` gives it: the locale's encoding, universal newlines."""
    f.seek(0)
    text = f.read().decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


if __name__ == "__main__":
    serve(sys.argv[1])
