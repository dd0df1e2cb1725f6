"""MLflow tracking, the model registry and Optuna studies on a real PostgreSQL, through the CLI.

Two workspaces initialised with the same ``--tracking-uri`` (and, for now, one shared local artifact
folder) are one team's workspace: a model trained in A is listed, promoted and used for predictions
from B; a tuning study run from A is resumed, not redone, from B. A password never enters
``molops.toml`` and is masked wherever a tracking URI is printed or stored.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration._cli import assert_one_line_error, clean_env, finish, molops, read_csv, start, write_csv

from .conftest import Postgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME = "freesolv-expt"
PARAMS = '{"n_estimators": 10}'


def _set_artifacts(ws: Path, uri: str) -> None:
    """Point ``[tracking] artifacts`` at *uri* (a local folder both workspaces see, for now)."""
    config = ws / "molops.toml"
    text = config.read_text()
    assert text.count('artifacts = ""') == 1
    config.write_text(text.replace('artifacts = ""', f"artifacts = {json.dumps(uri)}"))


@dataclass
class Team:
    postgres: Postgres
    database: str
    url: str  # without the password
    a: Path
    b: Path
    root: Path
    first: dict  # `molops train --json` in A: version 1 (champion)
    second: dict  # ... version 2 (challenger)

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(**{**self.postgres.env(), **extra})

    def run(self, *args: object, ws: Path, **extra: str):
        return molops(*args, "-w", ws, env=self.env(**extra), timeout=300)


@pytest.fixture(scope="module")
def team(postgres: Postgres) -> Iterator[Team]:
    """Workspaces A and B on one Postgres database and one artifact folder; two trainings from A."""
    database = f"team_{secrets.token_hex(4)}"
    with contextlib.closing(postgres.connect()) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{database}"')
    root = Path(tempfile.mkdtemp(prefix="molops-team-"))
    url = postgres.url(database)
    env = clean_env(**postgres.env())
    try:
        a, b = root / "a", root / "b"
        for ws in (a, b):
            molops("init", ws, "--tracking-uri", url, env=env).ok()
            _set_artifacts(ws, (root / "artifacts").as_uri())
        molops("data", "ingest", "--builtin", "freesolv", "-w", a, "--json", env=env).json()
        train = ("train", "-d", "freesolv", "-m", "rf", "--params", PARAMS, "-w", a, "--json")
        first = molops(*train, env=env, timeout=300).json()
        second = molops(*train, env=env, timeout=300).json()
        yield Team(postgres, database, url, a, b, root, first, second)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        with contextlib.closing(postgres.connect()) as conn, conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_init_writes_the_uri_and_no_sqlite_file(team):
    for ws in (team.a, team.b):
        assert f'uri = "{team.url}"' in (ws / "molops.toml").read_text()
    assert not (team.a / "mlflow.db").exists()
    assert (team.first["model_version"], team.first["alias"]) == (1, "champion")
    assert (team.second["model_version"], team.second["alias"]) == (2, "challenger")
    assert team.first["tracking_uri"] == team.url


def test_runs_and_versions_are_rows_in_postgres(team):
    with contextlib.closing(team.postgres.connect(team.database)) as conn, conn.cursor() as cur:
        cur.execute("SELECT version FROM model_versions WHERE name = %s ORDER BY version", (NAME,))
        assert [v for (v,) in cur.fetchall()] == [1, 2]
        cur.execute("SELECT count(*) FROM runs WHERE run_uuid = %s", (team.first["run_id"],))
        assert cur.fetchone() == (1,)


def test_b_lists_what_a_trained(team):
    listed = team.run("models", "list", "--json", ws=team.b).json()
    assert listed["tracking_uri"] == team.url
    (row,) = [m for m in listed["models"] if m["name"] == NAME]
    assert row["aliases"] == {"champion": 1, "challenger": 2}


def test_promote_in_b_then_predict_in_b_with_a_model(team, tmp_path):
    promoted = team.run("models", "promote", NAME, "2", "--reason", "from B", "--json", ws=team.b).json()
    assert (promoted["alias"], promoted["version"], promoted["previous"]) == ("champion", 2, 1)
    # A sees the promotion made from B: one registry
    shown = team.run("models", "show", NAME, "--json", ws=team.a).json()
    assert shown["aliases"]["champion"] == 2
    assert shown["history"][-1]["reason"] == "from B"
    src = write_csv(tmp_path / "in.csv", ["smiles", "id"], [["CCO", "a"], ["c1ccccc1O", "b"]])
    out = tmp_path / "out.csv"
    predicted = team.run("predict", "-m", NAME, src, out, "--json", ws=team.b).json()
    assert (predicted["predicted"], predicted["model_version"]) == (2, 2)
    rows = read_csv(out)
    assert all(float(r["mean"]) == float(r["mean"]) for r in rows)  # numbers, not NaN


def test_env_uri_selects_the_shared_store(team, tmp_path):
    """MOLOPS_TRACKING__URI instead of ``init --tracking-uri``: the same registry."""
    ws = tmp_path / "c"
    molops("init", ws, env=clean_env()).ok()
    listed = team.run("models", "list", "--json", ws=ws, MOLOPS_TRACKING__URI=team.url).json()
    assert NAME in [m["name"] for m in listed["models"]]


def test_tuning_study_is_shared_through_postgres(team):
    tune = ("train", "-d", "freesolv", "-m", "rf", "--tune", "--trials", "3", "--params", PARAMS, "--json")
    from_a = team.run(*tune, ws=team.a).json()["tuning"]
    assert from_a["n_complete"] == 3
    assert from_a["storage"].startswith(team.url)
    with contextlib.closing(team.postgres.connect(team.database)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM optuna.trials")
        assert cur.fetchone() == (3,)
        cur.execute("SELECT study_name FROM optuna.studies")
        assert [n for (n,) in cur.fetchall()] == [from_a["study_name"]]
    assert not (team.a / ".molops" / "optuna.db").exists()
    # B, on the same data, resumes A's finished study instead of running new trials
    team.run("data", "ingest", "--builtin", "freesolv", "--json", ws=team.b).json()
    from_b = team.run(*tune, ws=team.b).json()["tuning"]
    assert (from_b["study_name"], from_b["n_trials"]) == (from_a["study_name"], 3)


def test_a_password_in_the_uri_is_refused_by_init(tmp_path):
    ws = tmp_path / "ws"
    result = molops("init", ws, "--tracking-uri", "postgresql://molops:hunter2@db.example:5432/ml")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "PGPASSWORD" in lines[0] and "PGPASSFILE" in lines[0]
    assert "hunter2" not in result.stderr + result.stdout
    assert not ws.exists()


def test_a_password_from_the_environment_is_used_and_masked(team, tmp_path):
    """A URI with a password (here from MOLOPS_TRACKING__URI) connects, but nothing shows it."""
    pg = team.postgres
    secret_url = f"postgresql://{pg.user}:{pg.password}@{pg.host}:{pg.port}/{team.database}"
    env = clean_env(MOLOPS_TRACKING__URI=secret_url)  # no PGPASSWORD: the URI's password is used
    masked = f"postgresql://{pg.user}:***@{pg.host}:{pg.port}/{team.database}"
    listed = molops("models", "list", "--json", "-w", team.a, env=env)
    shown = molops("models", "show", NAME, "--json", "-w", team.a, env=env)
    trained = molops(
        "train", "-d", "freesolv", "-m", "rf", "--tune", "--trials", "1", "--params", PARAMS,
        "-w", team.a, "--json", env=env, timeout=300,
    )  # fmt: skip
    for result in (listed, shown, trained):
        assert result.json()  # succeeded
        assert pg.password not in result.stdout + result.stderr
    assert listed.json()["tracking_uri"] == masked
    assert shown.json()["tracking_uri"] == masked
    assert trained.json()["tracking_uri"] == masked
    assert trained.json()["tuning"]["storage"].startswith(masked)
    # nor in what MLflow stored: run tags and params, registry tags, the run's artifacts
    with contextlib.closing(pg.connect(team.database)) as conn, conn.cursor() as cur:
        for table in ("tags", "params", "registered_model_tags", "model_version_tags"):
            cur.execute(f"SELECT count(*) FROM {table} WHERE value LIKE %s", (f"%{pg.password}%",))
            assert cur.fetchone() == (0,), table
    for path in (team.root / "artifacts").rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert pg.password.encode() not in path.read_bytes(), path


def test_an_unreachable_database_is_one_sentence_at_once(tmp_path):
    """Not MLflow's 100 s of retries and a traceback: one line naming the URI, within seconds."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"postgresql://molops@127.0.0.1:{s.getsockname()[1]}/ml"
    ws = tmp_path / "ws"
    molops("init", ws).ok()  # init itself refuses that URI (test_init_checks_the_database_answers)
    result = molops("models", "list", "-w", ws, env=clean_env(MOLOPS_TRACKING__URI=url), timeout=60)
    assert result.returncode == 2, str(result)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"cannot connect to the tracking database {url}" in result.stderr


def test_init_checks_the_database_answers(postgres, pg_database, tmp_path):
    """The right URI (password in PGPASSWORD) makes a workspace; a wrong database name or password
    is one sentence naming the URI and the server's reason, and no workspace."""
    url = postgres.url(pg_database)
    made = molops("init", tmp_path / "good", "--tracking-uri", url, "--json", env=clean_env(**postgres.env()))
    assert Path(made.json()["workspace"]) == (tmp_path / "good").resolve()
    missing = postgres.url(f"{pg_database}_typo")
    cases = [
        (missing, clean_env(**postgres.env()), f'database "{pg_database}_typo" does not exist'),
        (url, clean_env(PGPASSWORD="not-the-password"), "password authentication failed"),
    ]
    for uri, env, reason in cases:
        result = molops("init", tmp_path / "bad", "--tracking-uri", uri, env=env, timeout=60)
        assert_one_line_error(
            result, f"--tracking-uri {uri!r}", "the database does not answer", reason, code=2
        )
        assert "not-the-password" not in result.stderr
        assert not (tmp_path / "bad").exists()


def test_a_wrong_password_is_one_sentence(team):
    result = team.run("models", "list", ws=team.b, PGPASSWORD="not-the-password")
    assert result.returncode == 2, str(result)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "password authentication failed" in result.stderr
    assert "not-the-password" not in result.stderr


def test_first_use_from_several_workspaces_at_once(postgres, pg_database, tmp_path):
    """MLflow makes its tables on a store's first use; three commands starting together on a new
    database must not collide on them (they did: a duplicate alembic_version table, a traceback)."""
    url = postgres.url(pg_database)
    spaces = [tmp_path / name for name in "abc"]
    env = clean_env(**postgres.env())
    for ws in spaces:
        molops("init", ws, "--tracking-uri", url, env=env).ok()
    procs = [start("models", "list", "--json", "-w", ws, env=env) for ws in spaces]
    for proc in procs:
        assert finish(proc, timeout=300).json()["models"] == []


def test_first_tunings_at_once_share_one_study_schema(postgres, pg_database, tmp_path, monkeypatch):
    """Optuna makes its tables on first use too: several first tunings at once must not collide."""
    from concurrent.futures import ThreadPoolExecutor

    import optuna
    from sqlalchemy.pool import NullPool

    from molops.tracking.store import study_storage
    from molops.workspace import Workspace

    monkeypatch.setenv("PGPASSWORD", postgres.password)
    url = postgres.url(pg_database)
    spaces = []
    for name in "abcd":
        molops("init", tmp_path / name, "--tracking-uri", url).ok()
        spaces.append(Workspace.open(tmp_path / name))
    with ThreadPoolExecutor(len(spaces)) as pool:
        storages = list(pool.map(study_storage, spaces))
    assert len(set(storages)) == 1 and "search_path%3Doptuna" in storages[0]
    rdb = optuna.storages.RDBStorage(storages[0], engine_kwargs={"poolclass": NullPool})
    assert optuna.get_all_study_names(rdb) == []
    rdb.engine.dispose()
    with contextlib.closing(postgres.connect(pg_database)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'optuna'")
        assert cur.fetchone()[0] >= 10
