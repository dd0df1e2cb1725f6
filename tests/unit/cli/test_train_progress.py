"""``molops train --model dmpnn`` shows the D-MPNN's epochs (it was silent for minutes on a CPU):
bars on a terminal, plain stage lines in a log, one stage per fit."""

from __future__ import annotations

import pytest

from molops.cli._output import err, is_stage_line
from molops.cli.train import _epoch_bars

from .conftest import Run

#: a tiny network: seconds per fit on one core
TINY = '{"n_members": 2, "epochs": 2, "hidden": 16, "ffn_hidden": 16, "batch_size": 8, "accelerator": "cpu"}'


def test_each_fit_is_a_stage_with_a_start_and_a_done_line(capsys):
    with err.status("training") as status, _epoch_bars(status) as epochs:
        for _ in range(2):  # train fits twice: on train+valid, then on train alone
            for done in (0, 1, 2, 2, 3, 4, 4):  # 2 members x 2 epochs, as DMPNN.fit reports them
                epochs(done, 4)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4, lines
    assert lines[0] == "D-MPNN epochs, fit 1…"
    assert is_stage_line(lines[1]) and lines[1].startswith("D-MPNN epochs, fit 1: done, "), lines
    assert lines[2] == "D-MPNN epochs, fit 2…"
    assert is_stage_line(lines[3]) and lines[3].startswith("D-MPNN epochs, fit 2: done, "), lines


@pytest.mark.slow
def test_train_dmpnn_reports_its_epochs_without_a_terminal(run: Run, ws, write):
    pytest.importorskip("chemprop")
    rows = "".join(f"{'C' * n}O,{-0.5 * n}\n{'C' * n}N,{0.3 * n}\n" for n in range(1, 16))
    run("data", "ingest", write("d.csv", "smiles,y\n" + rows), "-d", "d", "--target-col", "y", "-w", ws.root)
    res = run(
        "train", "-d", "d", "-m", "dmpnn", "--params", TINY, "--recalibrate", "none", "-w", ws.root, "--json"
    )
    assert res.code == 0, res
    stages = [line for line in res.stderr.splitlines() if line.startswith("D-MPNN")]
    assert [line for line in stages if line.endswith("…")] == [
        "D-MPNN epochs, fit 1…",
        "D-MPNN epochs, fit 2…",
    ]
    assert len(stages) == 4, res.stderr  # and each fit's done line
