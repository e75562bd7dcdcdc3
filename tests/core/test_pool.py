"""PoolScores: the measures read from one scoring pass."""

import numpy as np
from core_fixtures import random_scores

from alkit.core.detections import Labels


def test_pool_scores_fit_box_counts_on_the_images_with_labels():
    """PoolScores.fit_box_counts reads the real counts of the labeled rows only."""
    scores = random_scores(n=40)
    features = scores.box_count_features
    truth = np.rint(1 + 2 * features.sum(axis=1)).astype(int)
    labels = {p: Labels(np.zeros(k, dtype=np.int64), np.full((k, 4), 0.5))
              for p, k in zip(scores.paths[:30], truth[:30], strict=True)}
    fit = scores.fit_box_counts(labels)
    assert fit.n_images == 30 and fit.error_fit < fit.error_raw
    assert scores.fit_box_counts(dict(list(labels.items())[:10])) is None
