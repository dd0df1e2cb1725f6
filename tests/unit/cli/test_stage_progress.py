"""Long CLI jobs report their stages in plain lines when stderr is not a terminal (logs, CI, cron),
where rich's live bars are switched off and a five-minute ``campaign simulate`` said nothing."""

from __future__ import annotations

import re

from molops.cli._output import stage_progress

from .conftest import Run


def test_each_stage_says_when_it_starts_and_when_it_is_done(capsys):
    with stage_progress({"features": "featurizing"}) as progress:
        for done in (0, 5, 10, 10):  # a stage may report its last count twice
            progress("features", done, 10)
        progress("loop", 1, 3)  # never finishes: a start line only
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    assert lines[0] == "featurizing…"
    assert re.fullmatch(r"featurizing: done, \d+\.\d s since the start", lines[1]), lines
    assert lines[2] == "loop…"


def test_campaign_simulate_reports_its_stages_without_a_terminal(run: Run, write):
    rows = "".join(f"{'C' * n}O,{-n}\n" for n in range(1, 31))
    data = write("d.csv", "smiles,y\n" + rows)
    res = run(
        "campaign", "simulate", "--data", data, "--target-col", "y", "--model", "rf", "--params",
        '{"n_estimators": 5, "n_jobs": 1}', "--featurizer", "morgan", "--init", "5", "--batch", "5",
        "--iterations", "2", "--top-k", "3", "--repeats", "1", "--workers", "1", "--json",
    )  # fmt: skip
    assert res.code == 0, res
    stages = [line for line in res.stderr.splitlines() if line.endswith("…")]
    assert stages == ["reading…", "featurizing…", "active-learning iterations…"], res.stderr
    assert re.search(r"^active-learning iterations: done, \d+\.\d s since the start$", res.stderr, re.M), (
        res.stderr
    )
