"""Long CLI jobs report their stages in plain lines when stderr is not a terminal (logs, CI, cron),
where rich's live bars are switched off and a five-minute ``campaign simulate`` said nothing."""

from __future__ import annotations

import pytest

from molops.cli._output import is_stage_line, stage_line, stage_progress

from .conftest import Run


def _done_line(line: str, label: str) -> bool:
    return is_stage_line(line) and line.startswith(f"{label}: done, ")


def test_the_stage_lines_wording():
    """The one place the wording is spelled out; the CLI and the integration tests' helper use it."""
    assert stage_line("featurizing") == "featurizing…"
    assert stage_line("featurizing", 12.345) == "featurizing: done, 12.3 s since the start"


@pytest.mark.parametrize("since", [None, 0.0, 0.04, 7.25, 3600.0])
def test_is_stage_line_knows_every_stage_line(since):
    assert is_stage_line(stage_line("active-learning iterations", since))


@pytest.mark.parametrize(
    "line",
    [
        "error: --data 'x.csv' does not exist; expected a CSV/TSV/SDF/Parquet file",
        "featurizing: done",
        "featurizing: done, 1 s since the start",
        "",
    ],
)
def test_is_stage_line_refuses_other_lines(line):
    assert not is_stage_line(line)


def test_each_stage_says_when_it_starts_and_when_it_is_done(capsys):
    with stage_progress({"features": "featurizing"}) as progress:
        for done in (0, 5, 10, 10):  # a stage may report its last count twice
            progress("features", done, 10)
        progress("loop", 1, 3)  # never finishes: a start line only
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    assert lines[0] == "featurizing…"
    assert _done_line(lines[1], "featurizing"), lines
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
    assert any(_done_line(line, "active-learning iterations") for line in res.stderr.splitlines()), res.stderr
