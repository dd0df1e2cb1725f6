"""``molops retrain``'s one-line summary gives each figure once: the gate's reason usually holds both
RMSEs and the molecules compared, and then the line does not repeat them."""

from __future__ import annotations

import pytest

from molops.monitoring import retrain as retrain_module
from molops.monitoring.retrain import RetrainResult
from molops.workspace import Workspace

from .conftest import Run


def _result(reason: str) -> RetrainResult:
    return RetrainResult(
        model="m",
        triggered=True,
        triggers=["new_labels"],
        promoted=False,
        reason=reason,
        champion={"version": 1, "compared": {"rmse": 1.25}},
        challenger={"version": 2, "compared": {"rmse": 1.5}},
        compared_on={"molecules": 40},
    )


@pytest.mark.parametrize(
    ("reason", "rmse_mentions"),
    [
        ("challenger RMSE 1.500 is not 2% below the champion's 1.250 on 40 molecules", 1),
        ("challenger is worse calibrated (miscalibration area 0.200 vs 0.100)", 1),
    ],
)
def test_the_summary_gives_the_rmses_once(run: Run, tmp_path, monkeypatch, reason, rmse_mentions):
    ws = Workspace.init(tmp_path / "ws")
    monkeypatch.setattr(retrain_module, "retrain", lambda *a, **k: _result(reason))
    res = run("retrain", "-m", "m", "-w", ws.root)
    assert res.code == 0, res
    line = " ".join(res.stdout.split())
    assert line.count("RMSE") == rmse_mentions, line
    assert line.count("40 molecules") == 1, line
    assert line.startswith(f"m: challenger version 2 rejected: {reason}"), line
    assert line.endswith("(`molops models history m`)"), line
