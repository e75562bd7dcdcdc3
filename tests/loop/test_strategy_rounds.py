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
