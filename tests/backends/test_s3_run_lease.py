"""One ``campaign run`` per campaign across machines: the run lease on the object store (moto S3
on loopback). Two workspaces sharing a bucket stand for two machines; their file locks are
separate, so only the lease keeps the second run out, and an expired lease is taken over."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from _wait import wait_until
from integration._cli import assert_one_line_error, molops
from molops.active.run_lease import RunLease, RunLeaseHeldError, RunLeaseLostError
from molops.data.builtin import BUILTINS
from molops.workspace import Workspace

from ._s3 import Bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: value = a tenth of the SMILES length; every id it is sent goes to the counting file
_ORACLE = (
    "import csv, sys\n"
    "rows = list(csv.DictReader(open(sys.argv[1])))\n"
    "open(sys.argv[3], 'a').write(''.join(r['id'] + '\\n' for r in rows))\n"
    "w = csv.writer(open(sys.argv[2], 'w', newline=''))\n"
    "w.writerow(['id', 'value'])\n"
    "w.writerows([r['id'], len(r['smiles']) / 10] for r in rows)\n"
)


def test_a_second_machine_refuses_while_the_lease_lives_and_takes_over_an_expired_one(
    s3: Bucket, tmp_path: Path
) -> None:
    url = s3.url("team")
    a, b = tmp_path / "a", tmp_path / "b"
    molops("init", a, "--storage", url).ok()
    molops("init", b, "--storage", url).ok()
    molops("data", "ingest", "--builtin", "freesolv", "-w", a, "--json").json()
    molops(
        "campaign", "create", "sol", "-d", "freesolv", "--pool", BUILTINS["solubility-test"].path(),
        "--target", "expt", "--minimize", "--model", "rf", "--params", '{"n_estimators": 20}',
        "--featurizer", "morgan", "--batch-size", "4", "--no-pains", "-w", a, "--json",
    ).json()  # fmt: skip
    storage = Workspace.open(a).storage

    # a holder that died without releasing its lease: refused while it lives, taken over after
    dead = RunLease(storage, "sol", user="bob", ttl_s=2.0)
    dead.acquire()
    expires = time.time() + 2.0
    alive = RunLease(storage, "sol", user="carol")
    with pytest.raises(RunLeaseHeldError, match=r"already running on .* \(user bob, process \d+\)"):
        alive.acquire()
    wait_until(lambda: time.time() > expires + 0.1, 10, "the dead holder's lease to expire")
    with alive:
        dead.renew()  # the dead holder, back: its lease was taken over, so it must stop
        with pytest.raises(RunLeaseLostError, match="another run took it over"):
            dead.check()
        # the other machine's campaign run refuses in one sentence naming the holder
        script, count = tmp_path / "oracle.py", tmp_path / "sent.txt"
        script.write_text(_ORACLE)
        argv = ["campaign", "run", "sol", "--oracle", f"{sys.executable} {script} {{in}} {{out}} {count}",
                "--iterations", "1", "--no-track", "-w", b, "--json"]  # fmt: skip
        assert_one_line_error(
            molops(*argv, timeout=300),
            f"campaign 'sol' is already running on {socket.gethostname()} "
            f"(user carol, process {os.getpid()}) since ",
            code=3,
        )
        assert not count.exists()
    # released: the other machine runs
    res = molops(*argv, timeout=300).json()
    assert [(r["sent"], r["answered"]) for r in res["batches"]] == [(4, 4)]
    assert len(count.read_text().split()) == 4
