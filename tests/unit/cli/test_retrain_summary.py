"""``molops retrain``'s one-line summary gives each figure once: when the gate's reason already
holds both RMSEs and the molecules compared (``reason_gives_rmses``), the line does not repeat them;
otherwise it adds them."""

from __future__ import annotations

import pytest

from molops.config import RetrainSection
from molops.monitoring import retrain as retrain_module
from molops.monitoring.retrain import RetrainResult, gate
from molops.workspace import Workspace

from .conftest import Run

CHAMPION = {"rmse": 1.25, "miscalibration_area": 0.1}
#: The challenger's scores that make the gate refuse for each reason, and how many times the summary
#: line then says "RMSE" (the reason's own mentions plus the added figures, if any).
CASES = {
    "not better": ({"rmse": 1.5, "miscalibration_area": 0.1}, {}, 1),
    "worse calibrated": ({"rmse": 1.0, "miscalibration_area": 0.3}, {}, 1),
    "worse on recent molecules": ({"rmse": 1.0, "miscalibration_area": 0.1}, {"rmse": 2.0}, 2),
}


@pytest.mark.parametrize("case", CASES)
def test_the_summary_gives_the_rmses_once(run: Run, tmp_path, monkeypatch, case):
    challenger, challenger_recent, rmse_mentions = CASES[case]
    scores = {
        "champion": CHAMPION,
        "challenger": challenger,
        "champion_recent": {"rmse": 1.0} if challenger_recent else {},
        "challenger_recent": challenger_recent,
    }
    promote, reason, gives_rmses = gate(scores, 40, RetrainSection())
    result = RetrainResult(
        model="m",
        triggered=True,
        triggers=["new_labels"],
        promoted=promote,
        reason=reason,
        champion={"version": 1, "compared": CHAMPION},
        challenger={"version": 2, "compared": challenger},
        compared_on={"molecules": 40},
        reason_gives_rmses=gives_rmses,
    )
    ws = Workspace.init(tmp_path / "ws")
    monkeypatch.setattr(retrain_module, "retrain", lambda *a, **k: result)
    res = run("retrain", "-m", "m", "-w", ws.root)
    assert res.code == 0, res
    line = " ".join(res.stdout.split())
    assert line.count("RMSE") == rmse_mentions, line
    assert line.count("40 molecules") == 1, line
    assert line.startswith(f"m: challenger version 2 rejected: {reason}"), line
    assert line.endswith("(`molops models history m`)"), line


def test_a_promoted_challengers_reason_gives_both_rmses():
    scores = {"champion": CHAMPION, "challenger": {"rmse": 1.0, "miscalibration_area": 0.1}}
    decision = gate(scores | {"champion_recent": {}, "challenger_recent": {}}, 40, RetrainSection())
    assert decision.promote and decision.gives_rmses
    assert "1.000" in decision.reason and "1.250" in decision.reason and "40 molecules" in decision.reason
