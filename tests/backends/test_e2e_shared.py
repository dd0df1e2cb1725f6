"""A team's whole workflow on one shared workspace (S3 + Postgres), from two directories, by the CLI.

Two directories, A (alice) and B (bob), initialised with the same ``--storage s3://…`` and
``--tracking-uri postgresql://…`` and nothing else in common. From A: ingest FreeSolv, train a model,
create a campaign and propose. From B: the datasets, models and campaign agree with A's; B takes the
lab results of A's proposals back, proposes again and trains on the new data; A promotes B's model
and B serves it over a real socket, answering what ``molops predict`` answers in A. Then an ingest
is killed with SIGKILL halfway through its input: the dataset still reads as its previous version,
byte for byte, and the next ingest lands. ``molops audit`` from B lists every change with its user.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from _wait import wait_until
from integration._cli import (
    MOLOPS,
    Result,
    clean_env,
    enamine,
    finish,
    molops,
    read_csv,
    version_numbers,
    write_csv,
)
from integration.test_serve_cli import serving
from molops.data.builtin import BUILTINS

from ._s3 import Bucket
from .conftest import Postgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "freesolv-expt"
RF = '{"n_estimators": 10}'
#: Rows of the input killed halfway: read in small steps (500-row chunks), so that "half the file
#: consumed" leaves thousands of rows to validate before anything could be committed.
BIG_ROWS = 10_000
QUERY = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "ClC(Cl)Cl"]


class Team:
    """The two directories and the commands run in them, as alice in A and bob in B."""

    def __init__(self, a: Path, b: Path, env: dict[str, str]) -> None:
        self.dirs = {"a": a, "b": b}
        self.env = {"a": {**env, "MOLOPS_USER": "alice"}, "b": {**env, "MOLOPS_USER": "bob"}}
        self.results: list[Result] = []

    def run(self, where: str, *args: Any) -> Result:
        result = molops(*args, "-w", self.dirs[where], env=self.env[where], timeout=600)
        self.results.append(result)
        return result

    def json(self, where: str, *args: Any) -> dict[str, Any]:
        return self.run(where, *args, "--json").json()


def _big_input(path: Path) -> Path:
    """BIG_ROWS of Enamine's molecules with made-up ``expt`` values."""
    rng = random.Random(15)
    molecules = [smiles for smiles, _ in enamine()]
    with path.open("w", encoding="utf-8") as f:
        f.write("smiles,expt\n")
        for i in range(BIG_ROWS):
            f.write(f"{molecules[i % len(molecules)]},{rng.gauss(-5, 2):.3f}\n")
    return path


def _position(proc: subprocess.Popen[str], path: Path) -> int:
    """How far the process has read into *path* (its file offset; 0 until it opened it)."""
    try:
        files = psutil.Process(proc.pid).open_files()
    except psutil.Error:
        return 0
    return max((f.position for f in files if Path(f.path) == path), default=0)


def _kill_halfway(team: Team, big: Path) -> None:
    """Start an ingest of *big* from A and SIGKILL it, with its process group, once it has read
    half the file and before it could have committed (the rest must still be validated)."""
    argv = ["data", "ingest", big, "-d", "freesolv", "--target-col", "expt", "--workers", "1"]
    env = {**team.env["a"], "MOLOPS_INGEST__CHUNK_ROWS": "500"}  # progress in small steps
    proc = subprocess.Popen(
        [*MOLOPS, *map(str, argv), "-w", str(team.dirs["a"]), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    half = big.stat().st_size // 2
    try:
        wait_until(
            lambda: proc.poll() is not None or _position(proc, big.resolve()) >= half,
            300,
            "the ingest to read half its input",
            interval=0.005,
        )
        assert proc.poll() is None, f"the ingest ended before it was killed:\n{finish(proc)}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.timeout(1200)  # a dozen commands against two servers: minutes on 2 busy cores
def test_two_directories_one_team_workspace(
    s3: Bucket, postgres: Postgres, pg_database: str, tmp_path: Path
) -> None:
    storage, tracking = s3.url("team"), postgres.url(pg_database)
    team = Team(tmp_path / "a", tmp_path / "b", clean_env(**postgres.env()))
    for where, ws in team.dirs.items():
        init = molops("init", ws, "--storage", storage, "--tracking-uri", tracking, env=team.env[where])
        team.results.append(init.ok())

    # -- A: ingest, train, create a campaign, propose ----------------------------------------------
    ingested = team.json("a", "data", "ingest", "--builtin", "freesolv")
    assert (ingested["version"], ingested["unchanged"]) == (1, False)
    trained = team.json("a", "train", "-d", "freesolv", "-m", "rf", "--params", RF)
    assert (trained["model_version"], trained["alias"]) == (1, "champion")
    pool = BUILTINS["solubility-test"].path()  # molecules FreeSolv has not measured
    created = team.json(
        "a", "campaign", "create", "sol", "-d", "freesolv", "--pool", pool, "--target", "expt",
        "--minimize", "--model", "rf", "--params", RF, "--featurizer", "morgan", "--batch-size", "4",
        "--no-pains",
    )  # fmt: skip
    assert created["path"] == f"{storage}/campaigns/sol"
    first = team.json("a", "campaign", "propose", "sol")
    assert (first["iteration"]["number"], first["iteration"]["dataset_version"]) == (1, 1)
    assert first["iteration"]["run_id"]  # an MLflow run on the Postgres store
    proposed = [p["smiles"] for p in first["proposals"]]
    assert len(proposed) == 4

    # -- B sees the same workspace -------------------------------------------------------------------
    for command in (["data", "list"], ["models", "list"], ["campaign", "status", "sol"]):
        assert team.json("b", *command) == team.json("a", *command), command
    assert team.json("b", "campaign", "list")["campaigns"][0]["iterations"] == 1

    # -- B: the lab results of A's proposals, a second proposal, a model on the new data -------------
    results = write_csv(
        tmp_path / "lab.csv", ["smiles", "expt"], [[s, -3.0 - i] for i, s in enumerate(proposed)]
    )
    taken = team.json("b", "campaign", "ingest", "sol", results)
    assert (taken["ingest"]["dataset_version"], taken["ingest"]["answered"]) == (2, 4), taken
    assert taken["open_proposals"] == 0
    second = team.json("b", "campaign", "propose", "sol")
    assert (second["iteration"]["number"], second["iteration"]["dataset_version"]) == (2, 2)
    assert second["iteration"]["n_train"] == first["iteration"]["n_train"] + 4
    assert not {p["smiles"] for p in second["proposals"]} & set(proposed)
    status = team.json("a", "campaign", "status", "sol")
    assert status == team.json("b", "campaign", "status", "sol")
    assert [(it["iteration"], it["answered"]) for it in status["iterations"]] == [(1, 4), (2, 0)]
    retrained = team.json("b", "train", "-d", "freesolv", "-m", "rf", "--params", RF)
    assert (retrained["model_version"], retrained["dataset_version"]) == (2, 2), retrained
    assert retrained["alias"] == "challenger"  # a later version waits for a promotion
    team.run("a", "models", "promote", MODEL, "2", "--reason", "trained on the lab results").ok()
    models = team.json("b", "models", "list")["models"]
    assert [(m["name"], m["aliases"].get("champion")) for m in models] == [(MODEL, 2)]

    # -- B serves the champion; its answers are A's predictions -------------------------------------
    query = write_csv(tmp_path / "query.csv", ["smiles"], [[s] for s in QUERY])
    predicted = team.json("a", "predict", "-m", MODEL, query, tmp_path / "pred.csv")
    assert (predicted["predicted"], predicted["model_version"]) == (len(QUERY), 2)
    expected = {r["smiles"]: float(r["mean"]) for r in read_csv(tmp_path / "pred.csv")}
    busy = {"MOLOPS_SERVE__MOLECULE_TIMEOUT_MS": "5000"}  # a first request on 2 busy cores
    with serving(team.dirs["b"], tmp_path, env=team.env["b"] | busy) as server:
        response = httpx.post(server.url + "/v1/predict", json={"smiles": QUERY}, timeout=60)
        server.stop()
    assert response.status_code == 200, response.text
    served = response.json()["results"]
    assert [(r["smiles"], r["model_version"]) for r in served] == [(s, 2) for s in QUERY]
    assert {r["smiles"]: r["mean"] for r in served} == pytest.approx(expected, rel=1e-9, abs=1e-12)

    # -- an ingest killed halfway leaves the previous version, and the next one lands ---------------
    before = tmp_path / "v2.csv"
    team.run("b", "data", "export", "freesolv", before).ok()
    log_before = s3.keys("team/datasets/freesolv/table/_delta_log/")
    _kill_halfway(team, _big_input(tmp_path / "big.csv"))
    assert s3.keys("team/datasets/freesolv/table/_delta_log/") == log_before
    listed = team.json("b", "data", "list")["datasets"]
    assert [(d["name"], d["latest_version"]) for d in listed] == [("freesolv", 2)]
    after = tmp_path / "after.csv"
    team.run("b", "data", "export", "freesolv", after).ok()
    assert after.read_bytes() == before.read_bytes()
    fresh = [smiles for smiles, _ in enamine()[:2]]  # in the killed input, so in no version yet
    late = write_csv(tmp_path / "late.csv", ["smiles", "expt"], [[fresh[0], -4.4], [fresh[1], -9.3]])
    landed = team.json("b", "data", "ingest", late, "-d", "freesolv", "--target-col", "expt")
    assert (landed["version"], landed["added"]) == (3, 2), landed
    assert version_numbers(team.dirs["a"], "freesolv") == [1, 2, 3]

    # -- who did what, from either directory --------------------------------------------------------
    entries = team.json("b", "audit")["entries"]
    assert team.json("a", "audit")["entries"] == entries
    done = [(e["user"], e["action"], e["subject"], e["version"]) for e in entries]
    for step in [
        ("alice", "dataset.ingest", "freesolv", "1"),
        ("alice", "model.train", MODEL, "1"),
        ("alice", "campaign.create", "sol", None),
        ("alice", "campaign.propose", "sol", "1"),
        ("bob", "dataset.ingest", "freesolv", "2"),
        ("bob", "campaign.ingest", "sol", "2"),
        ("bob", "campaign.propose", "sol", "2"),
        ("bob", "model.train", MODEL, "2"),
        ("alice", "model.promote", MODEL, "2"),
        ("bob", "dataset.ingest", "freesolv", "3"),
    ]:
        assert step in done, (step, done)
    assert ("alice", "dataset.ingest", "freesolv", "3") not in done  # the killed ingest did nothing
    assert done.index(("alice", "campaign.propose", "sol", "1")) < done.index(
        ("bob", "campaign.ingest", "sol", "2")
    )
    for secret in (s3.server.secret_key, postgres.password):
        for result in team.results:
            assert secret not in result.stdout + result.stderr, str(result)
