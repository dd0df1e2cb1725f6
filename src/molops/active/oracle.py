"""Live oracles: a command or a Python function that measures a batch of molecules.

``'CMD {in} {out}'`` runs a program: ``{in}`` is a CSV of (id, smiles) it reads, ``{out}`` a CSV of
(id, value[, more columns]) it writes. ``python:module:function`` calls a function the same way,
in a child process (:mod:`~molops.active.oracle_child`), so that it too can be timed out and
cannot take the campaign down with it. Either is called on chunks of a batch, several at once,
each chunk with a time budget of its size times the per-molecule budget.

A chunk that times out, crashes, exits non-zero or writes no readable output is split in two and
retried, down to single molecules, so one bad molecule fails alone and its neighbours are still
measured; a single molecule that still fails is recorded with the reason. Within an output that
was read, each molecule is judged on its own row (missing, empty, not a number, NaN), and a row
naming no molecule of the chunk is recorded as rejected, never guessed at.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.machinery
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molops.active.errors import CampaignError
from molops.active.journal import row
from molops.active.oracle_guard import NOT_STARTED, PREFIX
from molops.active.oracle_procs import OWNER
from molops.compute.local import Executor

#: The exit code by which the Python oracle's child says the function raised (its last stderr
#: line is then the exception).
RAISED = 3
#: The script that runs a ``python:module:function`` oracle.
_CHILD = Path(__file__).with_name("oracle_child.py")
#: The script each call runs under, so that no oracle outlives its ``campaign run``.
_GUARD = Path(__file__).with_name("oracle_guard.py")
#: How much of a failed oracle's stderr a failure reason quotes.
_TAIL = 300


class OracleError(CampaignError):
    """An ``--oracle`` that cannot be run at all (no such program, no such module)."""


@dataclass(frozen=True)
class Oracle:
    """A parsed ``--oracle``: a command template, or a ``module:function`` run in a child."""

    spec: str
    argv: tuple[str, ...] = ()
    function: str | None = None  # "module:function"
    #: another name the output's ``value`` column may have (several objectives: the first target)
    value_col: str | None = None

    @classmethod
    def parse(cls, spec: str, cwd: Path | None = None) -> Oracle:
        """Check *spec* up front, so a typo fails once instead of failing every molecule."""
        text = spec.strip()
        if text.startswith("python:"):
            target = text[len("python:") :]
            module, _, function = target.partition(":")
            if not module or not function or not all(p.isidentifier() for p in module.split(".")):
                raise OracleError(
                    f"--oracle {spec!r}: expected python:module:function, e.g. python:mylab.dock:score"
                )
            top = module.split(".")[0]
            where = [str(cwd or Path.cwd()), *sys.path]
            if importlib.machinery.PathFinder.find_spec(top, where) is None:
                raise OracleError(
                    f"--oracle {spec!r}: no module {top!r} on the Python path or in {cwd or Path.cwd()}"
                )
            return cls(spec, function=target)
        try:
            argv = tuple(shlex.split(text))
        except ValueError as exc:
            raise OracleError(f"--oracle {spec!r}: cannot split it into arguments ({exc})") from None
        if not argv or not any("{in}" in a for a in argv) or not any("{out}" in a for a in argv):
            raise OracleError(
                f"--oracle {spec!r}: expected a command with {{in}} and {{out}}, "
                "e.g. 'dock.sh {in} {out}', or python:module:function"
            )
        program = argv[0]
        if shutil.which(program) is None and not Path(program).is_file():
            raise OracleError(f"--oracle {spec!r}: no program {program!r} (not a file, not on PATH)")
        return cls(spec, argv=argv)

    def command(self, inp: Path, out: Path) -> list[str]:
        if self.function is not None:
            # the child's file, not ``-m molops…``: importing the molops package would cost seconds a call
            return [sys.executable, str(_CHILD), self.function, str(inp), str(out)]
        return [a.replace("{in}", str(inp)).replace("{out}", str(out)) for a in self.argv]


@dataclass
class Call:
    """What one call of the oracle on a chunk gave: its output rows, or why it gave none."""

    chunk: str
    molecules: list[tuple[str, str]]  # (id, smiles)
    seconds: float
    rows: list[dict[str, str]] = field(default_factory=list)
    failed: str | None = None  # why the whole call failed (None: its output was read)


def call_chunk(
    oracle: Oracle, molecules: list[tuple[str, str]], timeout_s: float, cwd: str | None = None,
    owner: str | None = None, live: set[subprocess.Popen[bytes]] | None = None,
) -> Call:  # fmt: skip
    """Run *oracle* once on *molecules* with *timeout_s* seconds (its process group is killed
    after that); picklable, so a Ray task can run it on another machine. The call runs under the
    guard (:mod:`~molops.active.oracle_guard`: it dies with this process) and, with *owner*, marked
    with it (:mod:`~molops.active.oracle_procs`). *live* collects the running processes, so that
    whoever started the threads can kill them on the way out."""
    chunk = uuid.uuid4().hex[:12]
    folder = Path(tempfile.mkdtemp(prefix="molops-oracle-"))
    started = time.perf_counter()
    try:
        inp, out = folder / "in.csv", folder / "out.csv"
        with inp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "smiles"])
            writer.writerows(molecules)
        with (folder / "stdout").open("wb") as so, (folder / "stderr").open("wb") as se:
            here = cwd if cwd is not None and Path(cwd).is_dir() else None  # a Ray node may lack the folder
            try:
                guarded = [sys.executable, "-S", str(_GUARD), str(os.getpid()), *oracle.command(inp, out)]
                env = os.environ if owner is None else {**os.environ, OWNER: owner}
                proc = subprocess.Popen(
                    guarded, stdin=subprocess.DEVNULL, stdout=so, stderr=se, cwd=here, env=env,
                    start_new_session=True,  # its own process group: a timeout kills its children
                )  # fmt: skip
            except OSError as exc:  # e.g. a program not executable, or not on this Ray node
                return Call(chunk, molecules, _since(started), failed=f"the oracle could not start ({exc})")
            if live is not None:
                live.add(proc)
            try:
                code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill(proc)
                n = len(molecules)
                budget = f" ({n} molecules × {timeout_s / n:g} s)" if n > 1 else ""
                return Call(
                    chunk, molecules, _since(started), failed=f"timed out after {timeout_s:g} s{budget}"
                )
            finally:
                if live is not None:
                    live.discard(proc)
        seconds = _since(started)
        if code != 0:
            return Call(chunk, molecules, seconds, failed=_exit_reason(oracle, code, folder / "stderr"))
        if not out.is_file():
            return Call(chunk, molecules, seconds, failed="the oracle exited 0 but wrote no output file")
        try:
            with out.open(newline="", encoding="utf-8", errors="replace") as fh:
                reader = csv.DictReader(fh)
                columns = reader.fieldnames or []
                named = oracle.value_col if "value" not in columns and oracle.value_col in columns else None
                missing = [c for c in ("id", "value") if c not in columns and not (c == "value" and named)]
                if missing:
                    return Call(
                        chunk, molecules, seconds,
                        failed=f"its output has no {' or '.join(map(repr, missing))} column "
                        f"(columns: {', '.join(columns) or 'none'})",
                    )  # fmt: skip
                rows = [dict(r) for r in reader]
                if named is not None:  # the first objective's column by its target's name
                    rows = [{**r, "value": r.pop(named)} for r in rows]
        except csv.Error as exc:
            return Call(chunk, molecules, seconds, failed=f"its output is not a readable CSV ({exc})")
        return Call(chunk, molecules, seconds, rows=rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _exit_reason(oracle: Oracle, code: int, stderr: Path) -> str:
    lines = [
        ln.strip() for ln in stderr.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()
    ]
    last = lines[-1][-_TAIL:] if lines else ""
    if code == NOT_STARTED and last.startswith(PREFIX):
        return "the oracle could not start" + last[len(PREFIX) :]
    if code < 0:
        return f"the oracle was killed by {signal.Signals(-code).name}" + (f": {last}" if last else "")
    if oracle.function is not None and code == RAISED:
        return f"the oracle raised {last}"
    return f"the oracle exited with code {code}" + (f": {last}" if last else "")


def judge(call: Call) -> list[dict[str, Any]]:
    """Journal rows for a call whose output was read: one per molecule, plus rejected rows."""
    smiles = dict(call.molecules)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    chunk, seconds = call.chunk, call.seconds
    for r in call.rows:
        key = (r.get("id") or "").strip()
        if key not in smiles:
            rows.append(
                row(
                    key or "(empty)",
                    "rejected",
                    reason="a row for an unknown id",
                    chunk=chunk,
                    seconds=seconds,
                )
            )
            continue
        if key in seen:
            rows.append(
                row(
                    key,
                    "rejected",
                    reason="a second row for the same id (the first counts)",
                    chunk=chunk,
                    seconds=seconds,
                )
            )
            continue
        seen.add(key)
        extra = {k: v for k, v in r.items() if k not in ("id", "value") and k is not None}
        value, reason = parse_value(r.get("value"))
        if reason is not None:
            rows.append(
                row(
                    key,
                    "failed",
                    smiles=smiles[key],
                    reason=reason,
                    extra=extra,
                    chunk=chunk,
                    seconds=seconds,
                )
            )
        else:
            rows.append(
                row(key, "value", smiles=smiles[key], value=value, extra=extra, chunk=chunk, seconds=seconds)
            )
    for key, smi in call.molecules:
        if key not in seen:
            rows.append(
                row(
                    key,
                    "failed",
                    smiles=smi,
                    reason="the oracle returned no row for it",
                    chunk=chunk,
                    seconds=seconds,
                )
            )
    return rows


def parse_value(raw: Any) -> tuple[float | None, str | None]:
    """(value, None) for a finite number, else (None, why not)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, "no value"
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        return None, f"value {str(raw)[:40]!r} is not a number"
    if math.isnan(value):
        return None, "value is NaN"
    if math.isinf(value):
        return None, "value is infinite"
    return value, None


def failed_rows(call: Call) -> list[dict[str, Any]]:
    """The single molecule of a failed call, failed with the call's reason."""
    return [
        row(key, "failed", smiles=smi, reason=call.failed, chunk=call.chunk, seconds=call.seconds)
        for key, smi in call.molecules
    ]


# -- running a batch ---------------------------------------------------------------------------------
@dataclass
class Settled:
    """A call whose molecules are settled: its journal rows (answers, failures, rejected rows)."""

    call: Call
    rows: list[dict[str, Any]]


def run_batch(
    oracle: Oracle,
    molecules: list[tuple[str, str]],
    *,
    chunk_size: int,
    parallel: int,
    timeout_per_molecule: float,
    executor: Executor | None = None,
    cwd: str | None = None,
    owner: str | None = None,
    on_split: Callable[[Call], None] | None = None,
) -> Iterator[Settled]:
    """Call *oracle* on *molecules* in chunks, *parallel* at a time, yielding each settled call as
    soon as it settles; failed chunks are split and retried (see the module's docstring).

    Locally the calls run in threads that wait on the oracle processes; with a Ray *executor* each
    round of chunks is a round of Ray tasks (the oracle runs where the task runs)."""
    chunks = deque(molecules[i : i + chunk_size] for i in range(0, len(molecules), chunk_size))

    def settle(call: Call) -> Settled | None:
        if call.failed is None:
            return Settled(call, judge(call))
        if len(call.molecules) == 1:
            return Settled(call, failed_rows(call))
        half = (len(call.molecules) + 1) // 2
        chunks.appendleft(call.molecules[half:])
        chunks.appendleft(call.molecules[:half])
        if on_split is not None:
            on_split(call)
        return None

    if executor is not None and executor.kind != "local":
        while chunks:
            round_ = list(chunks)
            chunks.clear()
            units = [(oracle, c, timeout_per_molecule * len(c), cwd, owner) for c in round_]
            for call in executor.map(call_chunk, units, in_flight=parallel):
                done = settle(call)
                if done is not None:
                    yield done
        return
    live: set[subprocess.Popen[bytes]] = set()
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="molops-oracle")
    running: set[Future[Call]] = set()
    try:
        while chunks or running:
            while chunks and len(running) < parallel:
                c = chunks.popleft()
                budget = timeout_per_molecule * len(c)
                running.add(pool.submit(call_chunk, oracle, c, budget, cwd, owner, live))
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                running.discard(future)
                done = settle(future.result())
                if done is not None:
                    yield done
    finally:
        for proc in list(live):  # stopped early (an error, Ctrl-C): no oracle outlives the loop
            _kill(proc)
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["Call", "Oracle", "OracleError", "Settled", "call_chunk", "judge", "parse_value", "run_batch"]
