"""Alias moves in the workspace's audit log: who, which version, and why, with one notion of the user
shared by the registry's own history and the audit log."""

from __future__ import annotations

import pytest

from molops.data.audit import AuditLog
from molops.tracking.registry import ModelRegistry

NAME = "tiny-expt"


@pytest.mark.slow
def test_promote_and_rollback_are_recorded_as_the_acting_user(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MOLOPS_USER", "erin")
    log = AuditLog(str(tmp_path / "audit"), "someone-else")
    audited = ModelRegistry(registry.tracking_uri, user="configured", audit=log)
    assert audited.user == "erin"  # $MOLOPS_USER over the configured name
    audited.promote(NAME, 2, reason="better")
    audited.promote(NAME, 2, reason="clicked twice")  # unchanged: nothing recorded
    audited.rollback(NAME)
    rows = [(e.user, e.action, e.subject, e.version, e.details) for e in log.read()]
    assert rows == [
        ("erin", "model.promote", NAME, "2", {"alias": "champion", "previous": 1, "operation": "promote",
                                              "reason": "better"}),
        ("erin", "model.rollback", NAME, "1", {"alias": "champion", "previous": 2, "operation": "rollback",
                                               "reason": "rollback from version 2"}),
    ]  # fmt: skip
    assert [h["by"] for h in audited.history(NAME)[-2:]] == ["erin", "erin"]


@pytest.mark.slow
def test_a_registry_without_an_audit_log_records_only_its_history(registry, tmp_path, monkeypatch):
    monkeypatch.delenv("MOLOPS_USER", raising=False)
    assert registry.audit is None and registry.user == "tester"
    assert registry.promote(NAME, 2)["by"] == "tester"
