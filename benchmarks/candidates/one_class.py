"""Candidate strategies for one-class detectors, measured with ``bench_al.py --strategy-file``
before any of them earns a name in alkit (benchmarks/results/al-defects/README.md).

``calibrated_sum``: alkit's default with PPAL's unweighted candidate sum
(``U = sum_b u_b * w_{c_b}`` over the candidates at or above confidence 0.05) in place of its
confidence-weighted ``expected`` sum (``U = sum_b p_b * u_b * w_{c_b}``); everything else as
``calibrated`` (gain weights, per expected annotation second, a 10x shortlist spread over
k-means clusters). Why: on the `defects` preset the seed models are under-confident (a raw
confidence of 0.5 is right 84% of the time on the val split, the 50/50 point is near 0.2-0.25),
so detection entropy peaks on boxes the model already gets right, and weighting by p moves
the peak higher still (to p near 0.7); the misses live at 0.15-0.40. Offline, on the
round-1 pools of seeds 0-2, its picks held 2.55 seed-model errors per 100 annotation seconds
against random's 1.33 and calibrated's 0.78, with 1.42 boxes per image (random 2.04).

``calibrated_conf``: ``calibrated_sum`` with the confidences read through the round's
confidence calibration (:mod:`alkit.core.calibration`, fitted on the val split by isotonic
regression): the entropy of the share of boxes of that confidence that are right, so that it
peaks where the model really is 50/50. Offline, with a calibration fitted the same way, 2.92
errors per 100 seconds, 1.33 boxes per image.
"""

from dataclasses import replace

from alkit.core.strategy import STRATEGIES as ALKIT

STRATEGIES = {
    "calibrated_sum": replace(ALKIT["calibrated"], name="calibrated_sum",
                              utility=replace(ALKIT["calibrated"].utility,
                                              reduction="candidate_sum")),
    "calibrated_conf": replace(ALKIT["calibrated"], name="calibrated_conf",
                               utility=replace(ALKIT["calibrated"].utility,
                                               reduction="candidate_sum", calibrated=True)),
}
