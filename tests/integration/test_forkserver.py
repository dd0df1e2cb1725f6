"""The fork server that runs the CLI tests' commands: a forked command must behave as a new process would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ._cli import _SERVER, clean_env, molops
from ._forkserver import needs_fresh_interpreter

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork server needs os.fork")


def probe(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """Run the stand-in command ``_forkprobe`` in the server: (exit status, its report, stdout, stderr)."""
    env = env or clean_env()
    code, out, err = _SERVER.run("probe", list(argv), cwd, env, timeout, entry="_forkprobe:main")
    report = json.loads(out.splitlines()[0]) if out else None
    return code, report, out, err


def test_a_forked_command_prints_and_exits_as_a_fresh_one(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    molops("init", ws).ok()
    for args in (
        ("data", "list", "--workspace", ws),
        ("data", "show", "nope", "--workspace", ws),  # a refusal: exit 2, one line on stderr
        ("data", "list", "--workspace", ws, "--bogus"),  # click's usage error
        ("campaign", "list", "--workspace", ws, "--json"),
    ):
        forked, fresh = molops(*args), molops(*args, fresh=True)
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            fresh.returncode,
            fresh.stdout,
            fresh.stderr,
        )
    assert molops("data", "show", "nope", "--workspace", ws).returncode == 2


def test_a_forked_command_finds_its_workspace_from_its_own_directory_and_environment(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    molops("init", "ws", cwd=tmp_path / "a").ok()  # relative to the command's directory
    assert (tmp_path / "a" / "ws" / "molops.toml").is_file()
    by_flag = molops("data", "list", "--workspace", tmp_path / "a" / "ws", "--json").json()
    by_env = molops(
        "data", "list", "--json", env=clean_env(MOLOPS_WORKSPACE=str(tmp_path / "a" / "ws"))
    ).json()
    by_cwd = molops("data", "list", "--json", cwd=tmp_path / "a" / "ws").json()
    assert by_flag == by_env == by_cwd
    nowhere = molops("data", "list", "--json", cwd=tmp_path)  # no workspace here, nor in the environment
    assert nowhere.returncode == 2 and "no molops workspace in" in nowhere.stderr


def test_each_command_is_its_own_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reports = [probe("x", env=clean_env(PROBE=str(i)), cwd=tmp_path)[1] for i in range(3)]
    assert len({r["pid"] for r in reports}) == 3 and os.getpid() not in {r["pid"] for r in reports}
    assert [r["probe"] for r in reports] == ["0", "1", "2"]
    assert {r["cwd"] for r in reports} == {str(tmp_path)}
    assert reports[0]["argv"] == ["probe", "x"]
    assert reports[0]["stdin"] == ""  # stdin is empty, not the test process's
    # a fork copies the server's random state; each command still draws as a new process does
    assert len({r["random"] for r in reports}) == 3 and len({r["numpy"] for r in reports}) == 3
    monkeypatch.chdir(tmp_path)  # without cwd, a command starts where the test process is now
    assert probe()[1]["cwd"] == str(tmp_path)


def test_exit_statuses_and_output_are_the_processs_own() -> None:
    assert probe("exit", "0")[0] == 0
    assert probe("exit", "3")[0] == 3
    code, _, _, err = probe("raise")  # an uncaught exception, as the interpreter reports it
    assert code == 1 and "Traceback" in err and "ValueError: the probe was asked to fail" in err
    code, _, out, err = probe("crlf")  # text as subprocess.run(text=True) gives it: universal newlines
    assert code == 0 and out.endswith("one\ntwo\n") and err == "stderr line\n"


def test_a_command_past_its_timeout_is_killed_with_what_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        probe("sleep", str(pidfile), timeout=3)
    assert time.monotonic() - started < 30
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)
    assert probe("exit", "0")[0] == 0  # the server still serves


def test_an_interrupted_call_or_a_dead_server_kills_the_command(tmp_path: Path) -> None:
    class Interrupted(Exception):
        pass

    def interrupt(*_: Any) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)  # as pytest-timeout or ^C interrupt a test
    try:
        main = threading.main_thread().ident
        assert main is not None
        _when_written(tmp_path / "a", lambda: signal.pthread_kill(main, signal.SIGUSR1))
        with pytest.raises(Interrupted):
            probe("sleep", str(tmp_path / "a"))
    finally:
        signal.signal(signal.SIGUSR1, previous)
    _assert_ends(int((tmp_path / "a").read_text()))

    def kill_server() -> None:
        assert _SERVER._proc is not None
        os.kill(_SERVER._proc.pid, signal.SIGKILL)

    _when_written(tmp_path / "b", kill_server)
    with pytest.raises(RuntimeError, match="stopped while running"):
        probe("sleep", str(tmp_path / "b"))
    _assert_ends(int((tmp_path / "b").read_text()))
    assert probe("exit", "0")[0] == 0  # a new server serves


def test_the_server_removes_its_directory_when_pytest_is_killed() -> None:
    script = (
        "import os, signal, sys; sys.path.insert(0, sys.argv[1]); from _forkserver import ForkServer\n"
        "s = ForkServer(); s._socket_path(); print(s._proc.pid, s._dir.name, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    here = str(Path(__file__).parent)
    killed = subprocess.run(
        [sys.executable, "-c", script, here], env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    pid, folder = killed.stdout.split()
    assert Path(folder, "s").exists()
    _assert_ends(int(pid))  # it notices its parent has gone
    assert not Path(folder).exists()


def test_a_command_waits_for_its_threads_and_has_the_callers_umask(tmp_path: Path) -> None:
    assert probe("thread", str(tmp_path / "late"))[0] == 0  # an interpreter joins them before it exits
    assert (tmp_path / "late").read_text() == "written"
    previous = os.umask(0o027)
    try:
        assert probe()[1]["umask"] == 0o027
    finally:
        os.umask(previous)
    assert probe()[1]["umask"] == previous


def test_mlflow_logs_as_in_a_fresh_molops_command() -> None:
    forked = probe("loggers")[2].splitlines()[1]
    fresh = subprocess.run(
        [sys.executable, "-c", "import sys, _forkprobe; sys.argv = ['probe', 'loggers']; _forkprobe.main()"],
        cwd=Path(__file__).parent,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(forked) == json.loads(fresh.stdout.splitlines()[1])


def _when_written(path: Path, action: Callable[[], None]) -> None:
    """Do *action* (in a thread) once the probe has written *path*, i.e. while it runs."""

    def wait() -> None:
        deadline = time.monotonic() + 60
        while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the caller is waiting for the exit status by now
        action()

    threading.Thread(target=wait, daemon=True).start()


def _assert_ends(pid: int) -> None:
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_start_up_settings_get_a_fresh_interpreter(tmp_path: Path) -> None:
    base = clean_env()
    assert not needs_fresh_interpreter(dict(base), base)
    assert not needs_fresh_interpreter({**base, "MOLOPS_WORKSPACE": "/x", "AWS_REGION": "eu-west-1"}, base)
    for name in (
        "PYTHONPATH",
        "PYTHONIOENCODING",
        "PYTHONHASHSEED",
        "LC_ALL",
        "LANG",
        "OMP_NUM_THREADS",
        "TZ",
    ):
        assert needs_fresh_interpreter({**base, name: "changed-value"}, base), name
    # only a new interpreter runs a sitecustomize found through PYTHONPATH
    (tmp_path / "sitecustomize.py").write_text(f"open({str(tmp_path / 'started')!r}, 'w').close()\n")
    molops("--version", env={**base, "PYTHONPATH": str(tmp_path)}).ok()
    assert (tmp_path / "started").exists()
