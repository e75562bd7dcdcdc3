"""The figures: each draws from plain arrays and results without error, with the elements a
reader looks for (titles, one line or bar per series)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from alkit.core import stopping
from alkit.viz import plots

CLASSIC_N = [500, 700, 900, 1100, 1300, 1500, 1700]
CLASSIC_M = [0.41, 0.59, 0.69, 0.75, 0.79, 0.81, 0.815]


@pytest.fixture(autouse=True)
def close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def test_learning_curve_and_gains_from_the_engine():
    analysis = stopping.analyze(CLASSIC_N, CLASSIC_M, budget=4000, n_bootstrap=20)
    ax = plots.plot_learning_curve(analysis, budget=4000)
    assert ax.get_xlabel() and len(ax.lines) >= 2
    ax = plots.plot_gains(analysis)
    assert len(ax.patches) + len(ax.lines) >= len(analysis.gains)


def test_per_class_ap_and_arm_comparison():
    per_class = {"zero": [0.5, 0.7, 0.8], "four": [0.1, 0.1, 0.12]}
    ax = plots.plot_per_class_ap(per_class, [100, 200, 300],
                                 trends=stopping.class_trends(per_class))
    assert len(ax.lines) == 2
    figure = plots.plot_arm_comparison({"bottom": [0.6, 0.62], "random": [0.58, 0.6]},
                                       {"bottom": [{"zero": 0.9}, {"zero": 0.8}],
                                        "random": [{"zero": 0.7}, {"zero": 0.75}]},
                                       baseline=0.4, baseline_per_class={"zero": 0.5},
                                       title="two arms")
    assert len(figure.axes) == 2 and figure._suptitle.get_text() == "two arms"
    assert len(figure.axes[0].collections) >= 2  # the seeds' dots of both arms


def test_embedding_map_and_selection_overlap():
    rng = np.random.default_rng(0)
    ax = plots.plot_embedding_map(rng.normal(size=(30, 5)), picks={"a": [1, 2], "b": [2, 3]},
                                  labeled=[0])
    assert ax.get_title()
    ax = plots.plot_selection_overlap({"a": np.array([1, 2, 3]), "b": np.array([3, 4])})
    assert ax.images or ax.patches or ax.collections
