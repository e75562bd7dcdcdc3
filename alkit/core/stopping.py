"""Stopping rules: small objects with one question, ``should_stop(history) -> bool``.

A :class:`History` holds what the rounds so far measured: labeled counts, the metric, and
optionally per-class AP and the agreement between successive rounds' models on a fixed stop
set. Each rule answers ``should_stop(history)`` and says why in plain words
(``explain(history)``); rules compose with :class:`AnyOf` and :class:`AllOf`.

**Stabilizing predictions** (:func:`prediction_agreement`). Successive models are compared on
the same unlabeled stop set (cached scores make this free). Per image their boxes are matched
by IoU (as in :func:`alkit.committee.match_boxes`); every matched group is one unit with a
label from each model: its class, or "absent" when that model has no box there. Over all units,
Cohen's kappa of the two labelings, ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o`` the share
of units where both models say the same and ``p_e`` the agreement expected by chance from each
model's label frequencies. Two models that find the same boxes with the same classes give 1;
when neither finds anything, kappa is 1 by definition. :class:`StabilizingPredictions` stops
when kappa stayed at or above a threshold for a window of rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alkit.core import curves
from alkit.model.committee import match_boxes


@dataclass(frozen=True)
class History:
    """What the rounds measured, in round order.

    Attributes:
        labeled: (R,) labeled count after each round.
        metric: (R,) metric (mAP50) after each round.
        per_class: class name -> (R,) AP50 per round (optional).
        agreement: (R - 1,) agreement between round r's and round r+1's models on the stop
            set (optional; see :func:`prediction_agreement`).
    """

    labeled: Sequence[float]
    metric: Sequence[float]
    per_class: dict[str, Sequence[float]] = field(default_factory=dict)
    agreement: Sequence[float] = ()

    @property
    def n_rounds(self) -> int:
        return len(self.metric)

    @classmethod
    def from_json(cls, path) -> History:
        """Read ``{"labeled": [...], "metric": [...], "per_class": {...}, "agreement": [...]}``
        (the last two optional; other keys such as ``"source"`` are ignored)."""
        import json
        from pathlib import Path

        from alkit.data.datasets import DatasetError

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise DatasetError(path, f"not valid JSON: {error.msg}", error.lineno) from None
        missing = [k for k in ("labeled", "metric") if k not in data]
        if missing:
            raise DatasetError(path, f"a history needs the keys {missing}")
        return cls(data["labeled"], data["metric"], data.get("per_class", {}),
                   data.get("agreement", ()))


class StoppingRule:
    """Base class: subclasses answer :meth:`should_stop` and :meth:`explain`."""

    def should_stop(self, history: History) -> bool:
        """True when this rule says the project should stop labeling."""
        raise NotImplementedError

    def explain(self, history: History) -> str:
        """Why the rule says what it says, in plain words."""
        return f"{type(self).__name__}: {'stop' if self.should_stop(history) else 'continue'}"


@dataclass(frozen=True)
class GainBelow(StoppingRule):
    """The classic rule: the last round gained no more than ``threshold``."""

    threshold: float = 0.005

    def _rule(self, history: History) -> tuple[bool, str]:
        n, m, _ = curves.clean_history(history.labeled, history.metric)
        return curves.classic_rule(np.diff(m), len(n), self.threshold, max_rounds=10**9)

    def should_stop(self, history: History) -> bool:
        """True when the last gain is at most ``threshold``."""
        return self._rule(history)[0]

    def explain(self, history: History) -> str:
        """The last gain against the threshold."""
        return f"gain rule: {self._rule(history)[1]}"


@dataclass(frozen=True)
class MaxRounds(StoppingRule):
    """Stop after ``max_rounds`` rounds."""

    max_rounds: int = 10

    def should_stop(self, history: History) -> bool:
        """True at or past the round limit."""
        return history.n_rounds >= self.max_rounds

    def explain(self, history: History) -> str:
        """Rounds done against the limit."""
        return f"round limit: {history.n_rounds} of {self.max_rounds} rounds done"


@dataclass(frozen=True)
class PredictedGainBelow(StoppingRule):
    """The classic curve analysis: the exponential decay of the gains predicts that the next
    round gains less than ``threshold`` (needs 3 rounds; continues before that)."""

    threshold: float = 0.005

    def _fit(self, history: History):
        n, m, _ = curves.clean_history(history.labeled, history.metric)
        return curves.fit_gain_decay(np.diff(m)) if len(n) >= curves.MIN_ROUNDS_DECAY else None

    def should_stop(self, history: History) -> bool:
        """True when the predicted next gain is below ``threshold``."""
        fit = self._fit(history)
        return fit is not None and fit.predicted_next_gain < self.threshold

    def explain(self, history: History) -> str:
        """The predicted next gain, or why there is none."""
        fit = self._fit(history)
        if fit is None:
            return (f"predicted gain: needs at least {curves.MIN_ROUNDS_DECAY} rounds, "
                    f"there are {history.n_rounds}")
        return (f"predicted gain: the next round should gain {fit.predicted_next_gain:+.4f} "
                f"({'below' if fit.predicted_next_gain < self.threshold else 'not below'} "
                f"{self.threshold})")


@dataclass(frozen=True)
class LabelBudget(StoppingRule):
    """Stop when the labeled count reached ``budget``."""

    budget: float

    def should_stop(self, history: History) -> bool:
        """True once the budget is spent."""
        return bool(len(history.labeled)) and float(history.labeled[-1]) >= self.budget

    def explain(self, history: History) -> str:
        """Labels used against the budget."""
        used = float(history.labeled[-1]) if len(history.labeled) else 0.0
        return f"budget: {used:.0f} of {self.budget:.0f} labels used"


@dataclass(frozen=True)
class StabilizingPredictions(StoppingRule):
    """Stop when successive models agreed (kappa >= ``threshold``) for ``window`` rounds."""

    threshold: float = 0.95
    window: int = 2

    def should_stop(self, history: History) -> bool:
        """True when the last ``window`` agreements are all at or above the threshold."""
        recent = np.asarray(history.agreement, dtype=np.float64)[-self.window :]
        return len(recent) == self.window and bool(np.all(recent >= self.threshold))

    def explain(self, history: History) -> str:
        """The recent agreements against the threshold."""
        recent = [f"{a:.3f}" for a in list(history.agreement)[-self.window :]]
        if len(recent) < self.window:
            return (f"stabilizing predictions: needs {self.window} agreements between "
                    f"successive models, has {len(recent)}")
        verdict = "all" if self.should_stop(history) else "not all"
        return (f"stabilizing predictions: the last {self.window} agreements ({', '.join(recent)})"
                f" are {verdict} at or above {self.threshold}")


@dataclass(frozen=True, init=False)
class _Combined(StoppingRule):
    rules: tuple[StoppingRule, ...]

    def __init__(self, *rules: StoppingRule):
        object.__setattr__(self, "rules", tuple(rules))

    def explain(self, history: History) -> str:
        """Each rule's explanation, one per line."""
        return "\n".join(rule.explain(history) for rule in self.rules)


class AnyOf(_Combined):
    """Stop when any of the rules says stop."""

    def should_stop(self, history: History) -> bool:
        """True when at least one rule says stop."""
        return any(rule.should_stop(history) for rule in self.rules)


class AllOf(_Combined):
    """Stop only when every rule says stop."""

    def should_stop(self, history: History) -> bool:
        """True when every rule says stop."""
        return all(rule.should_stop(history) for rule in self.rules)


DEFAULT_RULE = AnyOf(MaxRounds(10), GainBelow(0.005), PredictedGainBelow(0.005))


# --------------------------------------------------------------------------- agreement


def prediction_agreement(detections_a: Sequence, detections_b: Sequence, *,
                         iou_threshold: float = 0.5) -> float:
    """Kappa-like agreement of two models' detections on the same images (module docstring).

    Args:
        detections_a, detections_b: per image ``(xyxy (n, 4), confidence (n,), class_id (n,))``
            of each model (already filtered by confidence), in the same image order.
    """
    if len(detections_a) != len(detections_b):
        raise ValueError("both models must be scored on the same stop-set images")
    pairs = []
    for a, b in zip(detections_a, detections_b, strict=True):
        members = [a, b]
        for group in match_boxes(members, iou_threshold=iou_threshold):
            label = {m: int(np.asarray(members[m][2])[i]) for m, i in group}
            pairs.append((label.get(0, -1), label.get(1, -1)))
    if not pairs:
        return 1.0
    labels_a, labels_b = np.array(pairs).T
    observed = float(np.mean(labels_a == labels_b))
    categories = np.union1d(labels_a, labels_b)
    expected = float(sum(np.mean(labels_a == c) * np.mean(labels_b == c) for c in categories))
    if expected >= 1.0:
        return 1.0
    return (observed - expected) / (1.0 - expected)


def scores_agreement(scores_a, scores_b, *, conf_threshold: float | None = None,
                     iou_threshold: float = 0.5) -> float:
    """:func:`prediction_agreement` of two :class:`alkit.PoolScores` of the same stop set."""
    if list(scores_a.hashes) != list(scores_b.hashes):
        raise ValueError("the two models were scored on different stop-set images")

    def boxes(scores):
        out = []
        for i in range(len(scores)):
            d = scores.detections(i, conf_threshold=conf_threshold)
            out.append((d.xyxy, d.confidence, d.class_id))
        return out

    return prediction_agreement(boxes(scores_a), boxes(scores_b), iou_threshold=iou_threshold)


# --------------------------------------------------------------------------- per class


@dataclass(frozen=True)
class ClassTrend:
    """One class across rounds: its gains and whether it has plateaued."""

    name: str
    ap: np.ndarray
    gains: np.ndarray
    plateau: bool
    reason: str


def class_trends(per_class: dict[str, Sequence[float]], *, threshold: float = 0.01,
                 window: int = 2) -> list[ClassTrend]:
    """Gains per class; a class has plateaued when each of its last ``window`` gains is at most
    ``threshold``. Such a class needs targeted data (more of it in the pool, a different
    source) rather than more general rounds."""
    trends = []
    for name, values in per_class.items():
        ap = np.asarray(values, dtype=np.float64)
        gains = np.diff(ap[np.isfinite(ap)])
        if len(gains) < window:
            trends.append(ClassTrend(name, ap, gains, False,
                                     f"{name}: needs {window + 1} rounds to judge a plateau"))
            continue
        last = gains[-window:]
        plateau = bool(np.all(last <= threshold))
        words = ", ".join(f"{g:+.3f}" for g in last)
        reason = (f"{name}: plateaued at AP50 {ap[-1]:.2f} (last gains {words}); collect "
                  "targeted data for it" if plateau else
                  f"{name}: still improving (last gains {words})")
        trends.append(ClassTrend(name, ap, gains, plateau, reason))
    return trends
