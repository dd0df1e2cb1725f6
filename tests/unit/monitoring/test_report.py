"""The HTML report's histograms draw whatever side has values, without numpy warnings."""

from __future__ import annotations

import warnings

import numpy as np
from matplotlib.figure import Figure

from molops.monitoring.report import _hist


def test_a_histogram_with_no_reference_values_draws_the_window_alone():
    ax = Figure().add_subplot()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a density of an empty array warns "invalid value"
        _hist(ax, np.array([np.nan]), np.array([1.0, 2.0, 2.5]), "MolWt")
    assert ax.get_legend_handles_labels()[1] == ["window"]


def test_a_histogram_draws_both_sides_on_shared_bins():
    ax = Figure().add_subplot()
    _hist(ax, np.array([0.0, 1.0, 1.5]), np.array([1.0, 2.0]), "MolWt")
    assert ax.get_legend_handles_labels()[1] == ["training", "window"]
    training, window = ax.containers
    assert len(training.patches) == len(window.patches) == 20
