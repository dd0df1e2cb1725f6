"""The audit log: who is acting, appending and reading the Delta table, filters, a write that fails
without failing the change, concurrent writers, and the dataset changes recorded through a workspace."""

from __future__ import annotations

import getpass
import logging
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from deltalake.exceptions import DeltaError

from molops import Workspace
from molops.data import audit as audit_module
from molops.data.audit import AuditEntry, AuditLog, acting_user, failed_writes
from molops.errors import InputFileError, UsageError


@pytest.fixture
def log(tmp_path) -> AuditLog:
    return AuditLog(str(tmp_path / "audit"), "alice")


def _entry(when: datetime, user: str, action: str, subject: str = "s") -> AuditEntry:
    return AuditEntry(time=when, user=user, action=action, subject=subject, version="1", details={"n": 1})


# -- who ------------------------------------------------------------------------------------------
def test_acting_user_prefers_the_environment_then_the_configured_name(monkeypatch):
    monkeypatch.setenv("MOLOPS_USER", "  alice ")
    assert acting_user("bob") == "alice"
    monkeypatch.setenv("MOLOPS_USER", "")
    assert acting_user("bob") == "bob"
    monkeypatch.delenv("MOLOPS_USER")
    assert acting_user("") == getpass.getuser()


def test_acting_user_without_a_login_name_is_unknown(monkeypatch):
    """A container run under a uid with no passwd entry: getpass.getuser raises (KeyError in 3.11,
    OSError from 3.13); recording must still work."""

    def no_login() -> str:
        raise OSError("no login name")

    monkeypatch.delenv("MOLOPS_USER", raising=False)
    monkeypatch.setattr(audit_module.getpass, "getuser", no_login)
    assert acting_user("") == "unknown"


# -- writing and reading --------------------------------------------------------------------------
def test_record_then_read(log):
    assert log.read() == []  # no table yet: empty, not an error
    before = datetime.now(UTC)
    assert log.record("dataset.ingest", "solubility", 3, added=10, reasons={"unparsable": 2})
    assert log.as_user("bob").record("model.promote", "solubility-logS", 2, reason="lower RMSE")
    first, second = log.read()
    assert (first.user, first.action, first.subject, first.version) == (
        "alice",
        "dataset.ingest",
        "solubility",
        "3",
    )
    assert first.details == {"added": 10, "reasons": {"unparsable": 2}}
    assert (second.user, second.action, second.version) == ("bob", "model.promote", "2")
    assert before <= first.time <= second.time <= datetime.now(UTC)
    assert first.time.tzinfo is not None


def test_filters(log):
    now = datetime.now(UTC)
    log.append(
        [
            _entry(now - timedelta(days=10), "alice", "dataset.ingest", "a"),
            _entry(now - timedelta(days=3), "bob", "model.train", "m"),
            _entry(now - timedelta(hours=1), "alice", "model.promote", "m"),
            _entry(now - timedelta(minutes=1), "bob", "campaign.propose", "c"),
        ]
    )

    def actions(**filters) -> list[str]:
        return [e.action for e in log.read(**filters)]

    assert actions() == ["dataset.ingest", "model.train", "model.promote", "campaign.propose"]
    assert actions(since="7d") == ["model.train", "model.promote", "campaign.propose"]
    assert actions(since="2h") == ["model.promote", "campaign.propose"]
    assert actions(since=(now - timedelta(days=4)).isoformat(), until="2h") == ["model.train"]
    assert actions(since=(now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")) == ["campaign.propose"]
    assert actions(user="alice") == ["dataset.ingest", "model.promote"]
    assert actions(action="model") == ["model.train", "model.promote"]  # a group
    assert actions(action="model.train") == ["model.train"]
    assert actions(subject="m", user="bob") == ["model.train"]


@pytest.mark.parametrize("action", ["mod", "modle", "model.", "model.promoted", "Model"])
def test_an_action_molops_never_records_is_refused_not_answered_empty(log, action):
    # a group is a whole first part ("model"), not any prefix of one; a typo is an error even on an empty log
    expected = rf"action '{re.escape(action)}' is not one molops records; expected a group"
    with pytest.raises(UsageError, match=expected):
        log.read(action=action)


def test_a_bad_time_is_one_clear_error_even_on_an_empty_log(log):
    with pytest.raises(InputFileError, match=r"time 'last week' is not valid; expected a duration"):
        log.read(since="last week")


def test_a_failed_write_is_logged_and_counted_not_raised(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the table's folder should be")
    broken = AuditLog(str(blocker / "audit"), "alice")
    before = failed_writes()
    with caplog.at_level(logging.WARNING, logger="molops.audit"):
        assert broken.record("model.train", "m", 1) is False
    assert failed_writes() == before + 1
    assert "could not record model.train of m in the audit log" in caplog.text
    with pytest.raises(DeltaError, match="Not a directory"):  # append raises; record forgives
        broken.append([_entry(datetime.now(UTC), "alice", "model.train")])


_WRITER = """
import sys
from molops.data.audit import AuditLog
log = AuditLog(sys.argv[1], sys.argv[2])
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # both start appending at once
for i in range(15):
    assert log.record("dataset.ingest", "d", i), "an append was refused"
"""


def test_two_processes_appending_at_once_keep_every_row(log):
    log.record("dataset.ingest", "d", 0)  # the table exists before the race
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, log.uri, user],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for user in ("p1", "p2")
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        proc.communicate(timeout=120)  # closes the pipes
        assert proc.returncode == 0
    users = [e.user for e in log.read()]
    assert (users.count("p1"), users.count("p2"), len(users)) == (15, 15, 31)


# -- through a workspace --------------------------------------------------------------------------
def test_dataset_changes_are_recorded_by_the_acting_user(ws: Workspace, write, monkeypatch):
    monkeypatch.setenv("MOLOPS_USER", "carol")
    src = write("a.csv", "smiles,logS\nCCO,1.0\nc1ccccc1,2.0\nxyz,3.0\n")
    ds = ws.dataset("sol")
    report = ds.ingest(src, smiles_col="smiles", target_col="logS", workers=1)
    again = ds.ingest(src, smiles_col="smiles", target_col="logS", workers=1)
    assert again.unchanged  # nothing changed: nothing recorded
    monkeypatch.setenv("MOLOPS_USER", "dave")
    ws.dataset("sol").ingest(write("b.csv", "smiles,logS\nCCC,4.0\n"), smiles_col="smiles", target_col="logS")
    ws.dataset("sol").rollback(1)
    entries = Workspace.open(ws.root).audit.read()
    assert [(e.user, e.action, e.subject, e.version) for e in entries] == [
        ("carol", "dataset.ingest", "sol", "1"),
        ("dave", "dataset.ingest", "sol", "2"),
        ("dave", "dataset.rollback", "sol", "3"),
    ]
    assert entries[0].details == {
        "source": report.source,
        "target": "logS",
        "rows_in": 3,
        "added": 2,
        "updated": 0,
        "quarantined": 1,
    }
    assert entries[2].details == {"rolled_back_to": 1, "molecules": 2}
    assert ws.audit.uri == f"{ws.storage_uri}/audit"


def test_the_configured_user_is_the_workspace_default(ws: Workspace, monkeypatch):
    monkeypatch.delenv("MOLOPS_USER", raising=False)
    text = (ws.root / "molops.toml").read_text()
    (ws.root / "molops.toml").write_text(text.replace('\nuser = ""', '\nuser = "lab-robot"', 1))
    assert Workspace.open(ws.root).audit.user == "lab-robot"
