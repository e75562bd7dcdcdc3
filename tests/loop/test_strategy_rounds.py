"""A strategy written here, in one object, runs a whole round (real training, tiny recipe), and
the round hands it the context it asks for."""

import numpy as np
import pytest

from alkit import Project, RoundContext, Selection, round_config


class CrowdedFirst:
    """A new strategy in one object: the images with the most predicted boxes, the labeled
    objects per class in its reasons (to show the round computed the context it needs)."""

    name = "crowded_first"
    needs = ("class_counts",)
    spreads = False

    def __init__(self):
        self.seen: list[RoundContext] = []

    def select(self, scores, context, budget, *, cost_N=None, random_state=None):
        self.seen.append(context)
        free = np.flatnonzero(~context.labeled)
        rows = free[np.argsort(-scores.n_boxes[free], kind="stable")][: int(budget)]
        counts = ",".join(str(int(c)) for c in context.class_counts)
        return Selection(rows, scores.n_boxes[rows], [f"boxes; counts {counts}"] * len(rows),
                         self.name)

    def to_dict(self):
        return {"name": self.name}


@pytest.mark.slow
def test_a_strategy_defined_in_a_test_runs_a_round(tiny_dataset, tmp_path):
    crowded = CrowdedFirst()
    config = round_config(crowded, "tiny", budget=5)
    with Project.init(tmp_path / "p", tiny_dataset / "dataset.yaml") as project:
        project.run_round(config, progress=False)
        record = project.run_round(config, progress=False)
        assert record.status == "done" and record.strategy == "crowded_first"
        assert record.params["strategy_parts"] == {"name": "crowded_first"}
        picked = project.ledger.queries(1)
        assert len(picked) == 5
        context = crowded.seen[-1]
        assert context.class_counts.sum() > 0 and context.class_quality is None
        assert int(context.labeled.sum()) == 24  # the seed split, scored with the pool
        assert "crowded_first" in project.status()


class CalibrationReader(CrowdedFirst):
    """CrowdedFirst that also reads the confidence calibration (so the round fits one)."""

    name = "calibration_reader"
    needs = ("class_counts", "confidence_calibration")


class QualityReader(CrowdedFirst):
    """CrowdedFirst that reads the class quality (so the round checks the val split) but not
    the calibration."""

    name = "quality_reader"
    needs = ("class_counts", "class_quality")


@pytest.mark.slow
def test_a_round_fits_the_confidence_calibration_on_the_val_split_when_asked(
        tiny_dataset, tmp_path, monkeypatch):
    """A strategy that reads the calibration gets the fit the round made on the val split (the
    tiny model finds too little for a real fit, so the fit is recorded, not computed); one
    that reads the class quality but not the calibration makes the round fit none."""
    from alkit.core.calibration import ConfidenceCalibration
    from alkit.core.pool import PoolScores
    from alkit.data import datasets

    fitted_on = []
    sentinel = ConfidenceCalibration((0.0, 1.0), (0.0, 1.0), 7)

    def fit(scores, labels_by_path):
        fitted_on.append(sorted(labels_by_path))
        return sentinel

    monkeypatch.setattr(PoolScores, "fit_confidence_calibration", fit)
    reader = CalibrationReader()
    with Project.init(tmp_path / "p", tiny_dataset / "dataset.yaml") as project:
        project.run_round(round_config(reader, "tiny", budget=5), progress=False)
        project.run_round(round_config(reader, "tiny", budget=5), progress=False)
        val = sorted(str(p) for p, _ in datasets.read_split(project.spec, "val"))
    assert fitted_on == [val] and reader.seen[-1].confidence_calibration is sentinel
    quality = QualityReader()
    with Project.init(tmp_path / "q", tiny_dataset / "dataset.yaml") as project:
        project.run_round(round_config(quality, "tiny", budget=5), progress=False)
        project.run_round(round_config(quality, "tiny", budget=5), progress=False)
    context = quality.seen[-1]
    assert context.class_quality is not None and context.confidence_calibration is None
    assert fitted_on == [val]  # not fitted again
