"""A live oracle's batch on a shared workspace (moto S3 on loopback): its journal lives in the
bucket, so a batch begun with ``ask``/``tell`` on one machine is finished by ``campaign run`` on
another, which sends only the molecules not yet answered."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from integration._cli import molops
from molops.active import Campaign
from molops.data.builtin import BUILTINS
from molops.workspace import Workspace

from ._s3 import Bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: value = a tenth of the SMILES length; every id it is sent goes to the counting file
_ORACLE = textwrap.dedent(
    """
    import csv, sys
    rows = list(csv.DictReader(open(sys.argv[1])))
    with open(sys.argv[3], "a") as count:
        count.write("".join(r["id"] + "\\n" for r in rows))
    with open(sys.argv[2], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "value"])
        w.writerows([r["id"], len(r["smiles"]) / 10] for r in rows)
    """
)


def test_a_batch_begun_on_one_machine_is_finished_on_another(s3: Bucket, tmp_path: Path) -> None:
    url = s3.url("team")
    a, b = tmp_path / "a", tmp_path / "b"
    molops("init", a, "--storage", url).ok()
    molops("init", b, "--storage", url).ok()
    molops("data", "ingest", "--builtin", "freesolv", "-w", a, "--json").json()
    pool = BUILTINS["solubility-test"].path()
    molops(
        "campaign", "create", "sol", "-d", "freesolv", "--pool", pool, "--target", "expt", "--minimize",
        "--model", "rf", "--params", '{"n_estimators": 20}', "--featurizer", "morgan", "--batch-size", "4",
        "--no-pains", "-w", a, "--json",
    ).json()  # fmt: skip
    here = Campaign.open(Workspace.open(a), "sol")
    batch = here.ask(track=False)
    ids = list(batch["id"])
    told = here.tell({ids[0]: -1.0, ids[1]: -2.0})
    assert told.pending == 2
    assert any(k.startswith(f"team/campaigns/sol/journal/{told.batch}/") for k in s3.keys("team/"))

    script, count = tmp_path / "oracle.py", tmp_path / "sent.txt"
    script.write_text(_ORACLE)
    res = molops(
        "campaign", "run", "sol", "--oracle", f"{sys.executable} {script} {{in}} {{out}} {count}",
        "--iterations", "1", "--no-track", "-w", b, "--json", timeout=300,
    ).json()  # fmt: skip
    assert res["resumed"] is True
    record = res["batches"][0]
    assert (record["batch"], record["sent"], record["answered"], record["dataset_version"]) == (
        told.batch, 4, 4, 2
    )  # fmt: skip
    assert sorted(count.read_text().split()) == sorted(ids[2:])  # the told ones were not sent
    data = Workspace.open(b).dataset("freesolv").read().set_index("inchikey")
    assert [data.loc[k, "expt"] for k in ids[:2]] == [-1.0, -2.0]
    assert all(data.loc[k, "expt_n"] == 1 for k in ids)
    status_a = molops("campaign", "status", "sol", "-w", a, "--json").json()
    assert status_a == molops("campaign", "status", "sol", "-w", b, "--json").json()
    assert [i["dataset_version"] for i in status_a["ingests"]] == [2]
