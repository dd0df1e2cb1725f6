"""Plots: PNG files are written, readable, and leave no pyplot state behind."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest

from molops.models.metrics import MetricsError
from molops.models.plots import calibration_plot, parity_plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def predictions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    std = rng.uniform(0.2, 1.0, size=300)
    return y, y + std * rng.standard_normal(300), std


def _open_figures() -> list[int]:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.get_fignums()


def _is_png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 5_000


def test_parity_plot_writes_a_png(tmp_path, predictions):
    before = _open_figures()
    out = parity_plot(*predictions, tmp_path / "plots" / "parity.png", "FreeSolv — test")
    assert out == tmp_path / "plots" / "parity.png" and _is_png(out)
    assert _open_figures() == before


def test_parity_plot_without_std_and_with_many_points(tmp_path):
    y = np.linspace(0, 1, 2000)
    assert _is_png(parity_plot(y, y**2, None, tmp_path / "a.png", "no std"))
    assert _is_png(parity_plot(y, y**2, np.full_like(y, 0.1), tmp_path / "b.png", "no error bars"))


def test_calibration_plot_writes_a_png(tmp_path, predictions):
    before = _open_figures()
    y, mean, std = predictions
    out = calibration_plot(y, mean, std * 0.5, tmp_path / "calibration.png", "over-confident")
    assert _is_png(out)
    assert _open_figures() == before


def test_plots_check_their_input(tmp_path):
    with pytest.raises(MetricsError, match="equal lengths"):
        parity_plot([1.0, 2.0], [1.0, 2.0], [0.1], tmp_path / "x.png", "bad")
    assert not (tmp_path / "x.png").exists()


def test_importing_plots_does_not_touch_pyplot():
    code = "import sys, molops.models.plots; assert 'matplotlib.pyplot' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
