"""The guard between ``campaign run`` and one oracle call: ``python oracle_guard.py PARENT CMD…``.

A ``kill -9`` of ``campaign run`` gives it no chance to stop the oracle calls in flight, and an
orphaned docking run would keep going, write results nobody reads, or race the resumed run. So
each call runs under this guard, which is the leader of the call's own process group: the kernel
sends it SIGTERM when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``), and it then kills the
whole group (the oracle and whatever the oracle started) with SIGKILL. A SIGKILL of the group by
the caller (a timeout) kills the guard with it. The guard exits as the oracle did (its code, or
the same signal), so the caller reads the oracle's own exit. Standard library only, run with
``-S``, so it costs a few milliseconds a call.

Note: PR_SET_PDEATHSIG fires when the *thread* that started the guard ends, so the caller keeps
that thread alive for as long as the call runs (``campaign run``'s worker threads do).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

#: The exit code and stderr prefix by which the guard says the oracle could not be started.
NOT_STARTED = 121
PREFIX = "molops oracle guard: the oracle could not start"
_PR_SET_PDEATHSIG = 1


def _kill_group(*_: object) -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)  # the guard is in the group too: this is its end


def _die_with(parent: int) -> None:
    """Ask the kernel for SIGTERM when *parent* dies; exit now if it already did."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            print(f"molops oracle guard: prctl failed (errno {ctypes.get_errno()})", file=sys.stderr)
    signal.signal(signal.SIGTERM, _kill_group)
    signal.signal(signal.SIGHUP, _kill_group)
    if os.getppid() != parent:  # the parent died before the request was in place
        _kill_group()


def main(argv: list[str]) -> int:
    parent, command = int(argv[0]), argv[1:]
    _die_with(parent)
    try:
        pid = os.posix_spawnp(command[0], command, os.environ)
    except OSError as exc:
        print(f"{PREFIX} ({exc})", file=sys.stderr)
        return NOT_STARTED
    _, status = os.waitpid(pid, 0)  # retried after the signal handlers (PEP 475)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # die of the same signal, so the caller sees the oracle's own death
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
