"""Query-by-committee, the model side: bootstrap resamples and a real committee (tiny)."""

import numpy as np
import pytest

from alkit.core.disagreement import committee_disagreement
from alkit.model import committee
from alkit.model.recipe import recipe


def test_bootstrap_lists_are_resamples_of_the_labeled_set():
    lists = committee.bootstrap_lists([f"{i}.jpg" for i in range(20)], 3, random_state=0)
    assert len(lists) == 3 and all(len(x) == 20 for x in lists)
    assert all(set(x) <= {f"{i}.jpg" for i in range(20)} for x in lists)
    assert lists[0] != lists[1]
    assert lists == committee.bootstrap_lists([f"{i}.jpg" for i in range(20)], 3, random_state=0)


@pytest.mark.slow
def test_a_real_committee_trains_scores_and_disagrees(tiny_dataset, tmp_path):
    members = committee.train_committee(tiny_dataset / "dataset.yaml", n_members=2,
                                        recipe=recipe("tiny", epochs=1),
                                        runs_dir=tmp_path / "runs")
    assert len(members) == 2 and all(m.is_file() for m in members)
    lists = sorted((tmp_path / "runs").glob("member*_train.txt"))
    assert [len(p.read_text().splitlines()) for p in lists] == [24, 24]
    scored = committee.score_committee(members, tiny_dataset / "images" / "pool", imgsz=64,
                                       conf=0.001, conf_threshold=0.001,
                                       cache_dir=tmp_path / "cache", progress=False)
    d = committee_disagreement(scored)
    assert d.shape == (60,) and np.all((d >= 0) & (d <= 1)) and d.max() > 0
