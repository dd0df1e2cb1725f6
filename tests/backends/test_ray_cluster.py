"""``--executor ray --ray-address`` against a real two-node Ray cluster, through the CLI.

The cluster is made the way a team makes one (``ray start --head``, then ``ray start --address``
for a second node; separate process trees, see ``_ray_cluster.py``), once for this module. On it,
featurizing a pool and scoring a pool give exactly what they give locally, and their tasks ran on
both nodes (the executor logs the node of every task); ``train --tune`` runs its trials as Ray
tasks that all write to one Optuna study on Postgres, and finds the same trials as local worker
processes with the same seed and parallelism.

The drivers are ``molops`` subprocesses; those that must show where their tasks ran start the
same CLI entry point with the ``molops.compute`` log at INFO (a user's logging configuration).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from integration._cli import ENAMINE_ROWS, Result, clean_env, molops, require_enamine
from molops.active.scan import CHUNK_ROWS

from ._ray_cluster import RayCluster, ray_cluster
from ._servers import BackendUnavailable, Postgres
from .conftest import unavailable

#: a busy machine starts Ray nodes and `molops train` slowly: the suite's 300 s is not enough there
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.xdist_group("ray-cluster"),
    pytest.mark.timeout(900),
]

#: Pool rows: more than one work unit of a pool build (2,000 rows) and of pool scoring (CHUNK_ROWS),
#: with room for the rows a pool loses (no identity, no features) so scoring still takes two chunks.
POOL_ROWS = CHUNK_ROWS + 200
MEASURED_ROWS = 120
assert MEASURED_ROWS + POOL_ROWS <= ENAMINE_ROWS, "the Enamine sample is too small for two scoring chunks"
#: `molops` with the executor's log (tasks per node) on stderr.
LOGGED_CLI = (
    "import logging, sys\n"
    "logging.basicConfig(format='%(name)s: %(message)s')\n"
    "logging.getLogger('molops.compute').setLevel(logging.INFO)\n"
    "from molops.cli.main import main\n"
    "sys.argv[0] = 'molops'\n"
    "main()\n"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    try:
        with ray_cluster() as running:
            yield running
    except BackendUnavailable as exc:
        unavailable(str(exc))


def logged_molops(cluster: RayCluster, *args: Any, env: dict[str, str] | None = None) -> Result:

    argv = [str(a) for a in args]
    proc = subprocess.run(
        [sys.executable, "-c", LOGGED_CLI, *argv],
        env=cluster.driver_env(env if env is not None else clean_env()),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Result(argv, proc.returncode, proc.stdout, proc.stderr)


def tasks_by_node(res: Result, task: str) -> dict[str, int]:
    """The tally the executor logged for *task*, summed over its maps."""
    prefix = f"molops.compute: ray tasks of {task} by node: "
    tally: dict[str, int] = {}
    for line in res.stderr.splitlines():
        if line.startswith(prefix):
            for node, n in json.loads(line[len(prefix) :]).items():
                tally[node] = tally.get(node, 0) + n
    assert tally, f"no tally of {task} tasks logged\n{res}"
    return tally


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Measured molecules (SMILES, docking score) and a pool, from the shared Enamine sample."""
    folder = tmp_path_factory.mktemp("ray-data")
    with gzip.open(require_enamine(), "rt", newline="") as f:
        reader = itertools.islice(csv.DictReader(f), MEASURED_ROWS + POOL_ROWS)
        rows = [(r["smiles"], r["score"]) for r in reader]
    measured, pool = folder / "measured.csv", folder / "pool.csv"
    measured.write_text("smiles,score\n" + "".join(f"{s},{v}\n" for s, v in rows[:MEASURED_ROWS]))
    pool.write_text("smiles\n" + "".join(f"{s}\n" for s, _ in rows[MEASURED_ROWS:]))
    return measured, pool


@pytest.fixture(scope="module")
def built(cluster: RayCluster, files: tuple[Path, Path], tmp_path_factory) -> dict[str, Any]:
    """The pool featurized twice: by the CLI on the cluster, and in this process (the baseline)."""
    from molops import Workspace

    _, pool = files
    root = tmp_path_factory.mktemp("ray-ws")
    ws_ray, ws_local = root / "ray", root / "local"
    molops("init", ws_ray).ok()
    on_ray = ["--executor", "ray", "--ray-address", cluster.address]
    res = logged_molops(
        cluster, "features", "build", "--pool", pool, "-f", "morgan", *on_ray, "-w", ws_ray, "--json"
    )
    local = Workspace.init(ws_local).features.build_pool(pool, "morgan", workers=1)
    return {"ray": (ws_ray, res.json(), res), "local": (ws_local, local.model_dump(mode="json"))}


def test_pool_featurization_on_the_cluster_equals_local(cluster, built):
    (ws_l, local), (ws_r, remote, res) = built["local"], built["ray"]
    assert (remote["executor"], remote["workers"]) == ("ray", 2)  # two nodes of one CPU each

    def counts(report: dict) -> dict:
        return {k: v for k, v in report.items() if k not in ("seconds", "rows_per_s", "executor", "workers")}

    assert counts(remote) == counts(local)
    assert remote["n"] == POOL_ROWS and remote["computed"] > 0
    # the work units (2,000 rows each) ran on both nodes of the cluster
    nodes = tasks_by_node(res, "identify_and_featurize")
    assert sorted(nodes) == cluster.node_ids, nodes
    assert sum(nodes.values()) == -(-POOL_ROWS // 2000)

    from molops import Workspace

    (table_r,) = (ws_r / "pools").glob("*/identity.parquet")
    (table_l,) = (ws_l / "pools").glob("*/identity.parquet")
    identity = pq.read_table(table_l)
    assert pq.read_table(table_r).equals(identity)
    keys = [k for k in identity.column("inchikey").to_pylist() if k is not None]
    r_values, r_valid = Workspace.open(ws_r).features.get("morgan", keys)
    l_values, l_valid = Workspace.open(ws_l).features.get("morgan", keys)
    np.testing.assert_array_equal(r_values, l_values)
    assert r_valid.tolist() == l_valid.tolist() and r_valid.sum() > 0.9 * POOL_ROWS


def test_pool_scoring_on_the_cluster_equals_local(cluster, files, built, tmp_path):
    measured, pool = files
    ws = Path(shutil.copytree(built["ray"][0], tmp_path / "ray"))
    w = ["-w", ws]
    molops("data", "ingest", measured, "-d", "m", "--smiles-col", "smiles", "--target-col", "score", *w).ok()
    create = ["campaign", "create", "c", "--dataset", "m", "--pool", pool, "--target", "score", "--minimize"]
    model = ["--model", "rf", "--params", '{"n_estimators": 20, "n_jobs": 1}', "--featurizer", "morgan"]
    molops(*create, *model, "--batch-size", "12", "--no-pains", *w, "--json").json()
    # the same campaign before its first proposal, proposed from locally
    here = Path(shutil.copytree(ws, tmp_path / "local"))
    local = molops("campaign", "propose", "c", "--no-track", "-w", here, "--json").json()

    on_ray = ["--executor", "ray", "--ray-address", cluster.address]
    res = logged_molops(cluster, "campaign", "propose", "c", "--no-track", *on_ray, *w, "--json")
    remote = res.json()
    nodes = tasks_by_node(res, "_score_chunk")
    assert sorted(nodes) == cluster.node_ids, nodes
    assert sum(nodes.values()) == -(-remote["iteration"]["scored"] // CHUNK_ROWS)

    assert remote["iteration"]["scored"] == local["iteration"]["scored"] > CHUNK_ROWS  # two chunks at least
    assert len(local["proposals"]) == 12
    assert remote["proposals"] == local["proposals"]


# -- tuning: trials as Ray tasks in one Optuna study on Postgres ----------------------------------


def _study(postgres: Postgres, database: str) -> dict[str, Any]:
    """The one study of *database*'s ``optuna`` schema: its name and trials (as Optuna stored them)."""
    with contextlib.closing(postgres.connect(database)) as conn, conn.cursor() as cur:
        cur.execute("SELECT study_name FROM optuna.studies")
        names = [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT t.number, t.state::text, v.value FROM optuna.trials t "
            "LEFT JOIN optuna.trial_values v ON v.trial_id = t.trial_id ORDER BY t.number"
        )
        trials = [(n, s, v) for n, s, v in cur.fetchall()]
        cur.execute(
            "SELECT t.number, a.key, a.value_json FROM optuna.trial_user_attributes a "
            "JOIN optuna.trials t ON t.trial_id = a.trial_id WHERE a.key IN ('params', 'node')"
        )
        attrs: dict[str, dict[int, Any]] = {"params": {}, "node": {}}
        for number, key, value in cur.fetchall():
            attrs[key][number] = json.loads(value)
        cur.execute("SELECT count(*) FROM optuna.trial_intermediate_values")
        (reports,) = cur.fetchone()
    return {"names": names, "trials": trials, **attrs, "reports": reports}


def _delete_study(postgres: Postgres, database: str, name: str) -> None:
    import optuna
    from sqlalchemy.pool import NullPool

    url = f"postgresql://{postgres.user}:{postgres.password}@{postgres.host}:{postgres.port}/{database}"
    url += "?options=-csearch_path%3Doptuna"
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"poolclass": NullPool})
    optuna.delete_study(study_name=name, storage=storage)


def test_tuning_trials_run_as_ray_tasks_in_one_postgres_study(cluster, postgres, pg_database, tmp_path):
    trials = 6
    # the cluster's workers hold their own credentials (a password file on the nodes)
    cluster.pgpass.write_text(f"{postgres.host}:{postgres.port}:*:{postgres.user}:{postgres.password}\n")
    env = cluster.driver_env(clean_env(**postgres.env()))
    ws = ["-w", tmp_path / "ws"]
    molops("init", tmp_path / "ws", "--tracking-uri", postgres.url(pg_database), env=env).ok()
    molops("data", "ingest", "--builtin", "freesolv", *ws, "--json", env=env).json()
    tune = ["train", "-d", "freesolv", "-m", "rf", "--tune", "--trials", trials, "--seed", 3, *ws]
    tune += ["--params", '{"n_estimators": 10, "n_jobs": 1}', "--workers", "2", "--json"]
    on_ray = ["--executor", "ray", "--ray-address", cluster.address]
    results = {"ray": molops(*tune, *on_ray, env=env, timeout=600).json()}
    on_ray = _study(postgres, pg_database)
    # the same tuning by local worker processes, in a new study of the same name
    _delete_study(postgres, pg_database, results["ray"]["tuning"]["study_name"])
    results["local"] = molops(*tune, "--executor", "local", env=env, timeout=600).json()
    local = _study(postgres, pg_database)

    ray_tuning, local_tuning = results["ray"]["tuning"], results["local"]["tuning"]
    # one study, named as the run reports it, holding every trial asked for, all finished
    assert on_ray["names"] == [ray_tuning["study_name"]] == [local_tuning["study_name"]]
    assert "search_path%3Doptuna" in ray_tuning["storage"] and postgres.password not in json.dumps(results)
    assert len(on_ray["trials"]) == trials == ray_tuning["n_complete"] + ray_tuning["n_pruned"]
    assert {state for _, state, _ in on_ray["trials"]} <= {"COMPLETE", "PRUNED"}
    assert ray_tuning["parallel"] == local_tuning["parallel"] == 2
    # every trial ran as a Ray task, on both nodes, and reported its folds to the study itself
    assert sorted(set(on_ray["node"].values())) == cluster.node_ids, on_ray["node"]
    assert sorted(on_ray["node"]) == list(range(trials))
    assert on_ray["reports"] >= ray_tuning["n_complete"] * 3
    assert local["node"] == {}  # local worker processes are on no Ray node
    # the same seed and parallelism: the same trials, values and choice as local worker processes
    assert on_ray["trials"] == local["trials"] and on_ray["params"] == local["params"]
    best = {k: v for k, v in ray_tuning.items() if k.startswith("best_")}
    assert best == {k: v for k, v in local_tuning.items() if k.startswith("best_")}
    complete = [(v, n) for n, s, v in on_ray["trials"] if s == "COMPLETE"]
    best_value, best_number = min(complete)
    assert ray_tuning["best_value"] == pytest.approx(best_value)
    chosen = {
        k.removeprefix("best_params."): v for k, v in ray_tuning.items() if k.startswith("best_params.")
    }
    assert chosen == {k: v for k, v in on_ray["params"][best_number].items() if k in chosen}
    assert results["ray"]["model"] == results["local"]["model"] == "rf"
