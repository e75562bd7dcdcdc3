"""Stopping: is another round of labels worth its cost? One engine for the command line
(``alkit status``, ``alkit stopping``), the notebooks and Python.

**Rules** are small objects with one question. Each gives a :class:`Verdict` for a
:class:`History` (what the rounds measured): ``stop`` is True (stop labeling), False (continue)
or None (not enough evidence to say), with the reason in plain words; ``should_stop(history)``
is ``verdict(history).stop is True`` and ``explain(history)`` its reason. Rules compose with
:class:`AnyOf` and :class:`AllOf`.

* :class:`MaxRounds`, :class:`LabelBudget`: limits; they say stop at the limit, and nothing
  before it (a limit not reached is no evidence that the next round pays).
* :class:`GainBelow`: the classic rule, stop when the last round gained no more than the
  threshold.
* :class:`PredictedGainBelow` (a *forecast*): fit ``g(k) = g0 exp(-lambda k)`` to the gains and
  stop when the next round's predicted gain is below the threshold (needs 3 rounds).
* :class:`SaturationGainBelow` (a *forecast*): the better of two saturating curves of the metric
  against labels (:func:`alkit.core.curves.fit_saturation`) with a bootstrap interval; stop when
  the upper end of one more round's gain is below the threshold (needs 4 rounds and a fit good
  and narrow enough to be evidence).
* :class:`StabilizingPredictions`: successive models agree on a fixed stop set.

``AnyOf`` stops when any member says stop. Otherwise it says continue when a forecast says
continue; without any forecast among its members it says continue when any member does; and
"not enough evidence" when none can tell. (The past gains alone are not a forecast: with two
rounds behind it a project that gained a lot has "not enough evidence" yet, not "continue".)
``AllOf`` stops only when every member says stop.

**The engine**, :func:`analyze`, measures the curve (gains, ROI per 100 labels, the gain-decay
fit, the saturating fit, the knee: :mod:`alkit.core.curves`) and asks one rule (default
:func:`default_rule`: the round limit, the classic rule and both forecasts, under ``AnyOf``)
for the recommendation: ``"stop"``, ``"continue"`` or ``"not enough evidence"``, with every
member's reason.

**Stabilizing predictions** (:func:`prediction_agreement`). Successive models are compared on
the same unlabeled stop set (cached scores make this free). Per image their boxes are matched
by IoU (:func:`alkit.core.boxes.match_boxes`); every matched group is one unit with a label
from each model: its class, or "absent" when that model has no box there. Over all units,
Cohen's kappa of the two labelings, ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o`` the share
of units where both models say the same and ``p_e`` the agreement expected by chance from each
model's label frequencies. Two models that find the same boxes with the same classes give 1;
when neither finds anything, kappa is 1 by definition.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alkit.core import curves
from alkit.core.boxes import match_boxes
from alkit.core.detections import Detections

DEFAULT_THRESHOLD = 0.005
DEFAULT_MAX_ROUNDS = 10


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
        """Rounds with a measurement."""
        return len(self.metric)

    def cleaned(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``(labeled, metric, repairs)`` by :func:`alkit.core.curves.clean_history`."""
        return curves.clean_history(self.labeled, self.metric)

    @classmethod
    def from_json(cls, path) -> History:
        """Read ``{"labeled": [...], "metric": [...], "per_class": {...}, "agreement": [...]}``
        (the last two optional; other keys such as ``"source"`` are ignored) from the JSON
        file at ``path`` (a string or path). Invalid JSON or a missing key raises
        ``ValueError``."""
        import json
        from pathlib import Path

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
        missing = [k for k in ("labeled", "metric") if k not in data]
        if missing:
            raise ValueError(f"{path}: a history needs the keys {missing}")
        return cls(data["labeled"], data["metric"], data.get("per_class", {}),
                   data.get("agreement", ()))


@dataclass(frozen=True)
class Verdict:
    """A rule's answer: ``stop`` True (stop), False (continue) or None (cannot tell yet).

    Attributes:
        stop: True (stop labeling), False (continue) or None (not enough evidence).
        reason: why, in plain words (one line per member for a combined rule).
    """

    stop: bool | None
    reason: str

    @property
    def word(self) -> str:
        """``"stop"``, ``"continue"`` or ``"not enough evidence"``."""
        return {True: "stop", False: "continue", None: "not enough evidence"}[self.stop]


class StoppingRule:
    """Base class: subclasses answer :meth:`verdict`. ``forecast`` rules predict the next
    round's gain (see the module docstring for how :class:`AnyOf` weighs them)."""

    forecast = False

    def verdict(self, history: History) -> Verdict:
        """Stop, continue or cannot tell for ``history``, with the reason."""
        raise NotImplementedError

    def should_stop(self, history: History) -> bool:
        """True when this rule says the project with ``history`` should stop labeling."""
        return self.verdict(history).stop is True

    def explain(self, history: History) -> str:
        """Why the rule says what it says about ``history``, in plain words."""
        return self.verdict(history).reason


@dataclass(frozen=True)
class GainBelow(StoppingRule):
    """The classic rule: the last round gained no more than ``threshold``."""

    threshold: float = DEFAULT_THRESHOLD

    def verdict(self, history: History) -> Verdict:
        """Stop when the last gain of ``history`` is at most ``threshold``; cannot tell before
        2 rounds."""
        n, m, _ = history.cleaned()
        if len(n) < 2:
            return Verdict(None, "classic rule: one round so far, no gain to judge yet")
        stop, reason = curves.classic_rule(np.diff(m), len(n), self.threshold, max_rounds=10**9)
        return Verdict(stop, f"classic rule: {'stop' if stop else 'continue'} ({reason})")


@dataclass(frozen=True)
class MaxRounds(StoppingRule):
    """Stop after ``max_rounds`` rounds."""

    max_rounds: int = DEFAULT_MAX_ROUNDS

    def verdict(self, history: History) -> Verdict:
        """Stop when ``history`` is at or past the round limit; nothing to say before it."""
        done = history.n_rounds
        if done >= self.max_rounds:
            return Verdict(True, f"round limit: {done} rounds reached the limit of "
                                 f"{self.max_rounds}")
        return Verdict(None, f"round limit: {done} of {self.max_rounds} rounds done")


@dataclass(frozen=True)
class LabelBudget(StoppingRule):
    """Stop when the labeled count reached ``budget``."""

    budget: float

    def verdict(self, history: History) -> Verdict:
        """Stop once the last labeled count of ``history`` reached the budget; nothing to say
        before."""
        used = float(history.labeled[-1]) if len(history.labeled) else 0.0
        text = f"budget: {used:.0f} of {self.budget:.0f} labels used"
        return Verdict(True if used >= self.budget else None, text)


@dataclass(frozen=True)
class PredictedGainBelow(StoppingRule):
    """The classic curve analysis: the exponential decay of the gains predicts that the next
    round gains less than ``threshold`` (needs 3 rounds)."""

    threshold: float = DEFAULT_THRESHOLD
    forecast = True

    def verdict(self, history: History) -> Verdict:
        """Stop when the next gain predicted from ``history``'s gains is below ``threshold``;
        cannot tell before 3 rounds or when the decay cannot be fitted."""
        n, m, _ = history.cleaned()
        if len(n) < curves.MIN_ROUNDS_DECAY:
            return Verdict(None, f"gain decay: the gain-decay fit needs at least "
                                 f"{curves.MIN_ROUNDS_DECAY} rounds (2 gains); there are {len(n)}")
        fit = curves.fit_gain_decay(np.diff(m))
        if fit is None:
            return Verdict(None, "gain decay: the gains could not be fitted by an exponential "
                                 "decay")
        stop = fit.predicted_next_gain < self.threshold
        return Verdict(stop, f"gain decay g(k) = {fit.g0:.3f} exp(-{fit.lam:.2f} k) predicts the "
                             f"next round gains {fit.predicted_next_gain:+.4f}, "
                             f"{'below' if stop else 'not below'} {self.threshold}")


@dataclass(frozen=True)
class SaturationGainBelow(StoppingRule):
    """A saturating curve of the metric against labels says one more round (of the last
    round's size) gains less than ``threshold``, at the upper end of its 90% interval (needs 4
    rounds and a fit that is evidence: see :func:`alkit.core.curves.fit_saturation`).

    Attributes:
        threshold: the gain per round below which one more round does not pay.
        n_bootstrap: bootstrap refits behind the 90% intervals.
        random_state: seed of the bootstrap (default 0, so the verdict is reproducible).
        budget: a total label budget; the fit's interval at it also enters the evidence test.
            ``None``: none.
        target: a metric to reach, answered by the fit's ``labels_for_target``. ``None``: none.
    """

    threshold: float = DEFAULT_THRESHOLD
    n_bootstrap: int = 200
    random_state: int | None = 0
    budget: float | None = None
    target: float | None = None
    forecast = True

    def fit(self, history: History):
        """``(fit, reason)`` of :func:`alkit.core.curves.fit_saturation` on the history (with
        the rule's budget and target, which also enter the evidence test)."""
        n, m, _ = history.cleaned()
        return _saturation(tuple(n), tuple(m), self.budget, self.target, self.n_bootstrap,
                           self.random_state)

    def verdict(self, history: History) -> Verdict:
        """Stop when the fit to ``history`` is evidence and its next-round gain interval lies
        below the threshold; cannot tell without such a fit."""
        fit, why = self.fit(history)
        if fit is None:
            return Verdict(None, f"saturating fit: {why}")
        g = fit.next_round_gain
        text = (f"{fit.family} fit (R^2 {fit.r2:.2f}, asymptote {fit.asymptote.value:.3f}): "
                f"one more round gains about {g.value:+.4f}")
        if g.low is not None and g.high is not None:
            text += f" (90%: {g.low:+.4f} to {g.high:+.4f})"
        if not fit.evidence:
            return Verdict(None, f"{text}; not enough evidence: {fit.note}")
        return Verdict(g.high is not None and g.high < self.threshold, text)


@functools.lru_cache(maxsize=32)
def _saturation(n: tuple, m: tuple, budget, target, n_bootstrap: int, random_state):
    # the engine reports the fit that its rule judged: one bootstrap, not two
    return curves.fit_saturation(np.array(n), np.array(m), budget=budget, target=target,
                                 n_bootstrap=n_bootstrap, random_state=random_state)


@dataclass(frozen=True)
class StabilizingPredictions(StoppingRule):
    """Stop when successive models agreed (kappa >= ``threshold``) for ``window`` rounds."""

    threshold: float = 0.95
    window: int = 2

    def verdict(self, history: History) -> Verdict:
        """Stop when the last ``window`` agreements of ``history`` are all at or above the
        threshold; cannot tell with fewer agreements."""
        recent = np.asarray(history.agreement, dtype=np.float64)[-self.window :]
        if len(recent) < self.window:
            return Verdict(None, f"stabilizing predictions: needs {self.window} agreements "
                                 f"between successive models, has {len(recent)}")
        stop = bool(np.all(recent >= self.threshold))
        words = ", ".join(f"{a:.3f}" for a in recent)
        return Verdict(stop, f"stabilizing predictions: the last {self.window} agreements "
                             f"({words}) are {'all' if stop else 'not all'} at or above "
                             f"{self.threshold}")


@dataclass(frozen=True, init=False)
class _Combined(StoppingRule):
    rules: tuple[StoppingRule, ...]

    def __init__(self, *rules: StoppingRule):
        object.__setattr__(self, "rules", tuple(rules))

    @property
    def forecast(self) -> bool:  # a combination forecasts when one of its members does
        return any(rule.forecast for rule in self.rules)

    def _verdicts(self, history: History) -> list[tuple[StoppingRule, Verdict]]:
        return [(rule, rule.verdict(history)) for rule in self.rules]


class AnyOf(_Combined):
    """Stop when any rule says stop (module docstring: when it says continue)."""

    def verdict(self, history: History) -> Verdict:
        """Any member's stop on ``history``; else a forecast's continue; else cannot tell."""
        verdicts = self._verdicts(history)
        reason = "\n".join(v.reason for _, v in verdicts)
        if any(v.stop is True for _, v in verdicts):
            return Verdict(True, reason)
        judges = [v for rule, v in verdicts if rule.forecast] if self.forecast else [
            v for _, v in verdicts]
        return Verdict(False if any(v.stop is False for v in judges) else None, reason)


class AllOf(_Combined):
    """Stop only when every rule says stop."""

    def verdict(self, history: History) -> Verdict:
        """Stop when all members say stop on ``history``; cannot tell while one cannot; else
        continue."""
        verdicts = [v for _, v in self._verdicts(history)]
        reason = "\n".join(v.reason for v in verdicts)
        if all(v.stop is True for v in verdicts):
            return Verdict(True, reason)
        return Verdict(None if any(v.stop is None for v in verdicts) else False, reason)


def default_rule(threshold: float = DEFAULT_THRESHOLD, max_rounds: int = DEFAULT_MAX_ROUNDS, *,
                 n_bootstrap: int = 200, random_state: int | None = 0) -> AnyOf:
    """The rule behind ``alkit status`` and :func:`analyze`: the round limit, the classic
    rule, the gain-decay forecast and the saturating-curve forecast, under :class:`AnyOf`.

    Args:
        threshold: the gain per round below which a round does not pay (classic rule and both
            forecasts).
        max_rounds: the round limit (:class:`MaxRounds`).
        n_bootstrap: bootstrap refits of the saturating fit.
        random_state: seed of that bootstrap.
    """
    return AnyOf(MaxRounds(max_rounds), GainBelow(threshold), PredictedGainBelow(threshold),
                 SaturationGainBelow(threshold, n_bootstrap, random_state))


DEFAULT_RULE = default_rule()


# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class CurveAnalysis:
    """Everything :func:`analyze` found (rounds are 1-based in the text).

    Attributes:
        labeled: (R,) labeled counts after the repairs of
            :func:`alkit.core.curves.clean_history` (sorted, distinct).
        metric: (R,) the metric at each of them.
        gains: (R - 1,) the metric's gain per round.
        new_labels: (R - 1,) labels added per round.
        roi_per_100: (R - 1,) ``100 * gains / new_labels``: gain per 100 new labels.
        threshold: the gain per round below which a round does not pay.
        classic_stop: the classic rule's answer (last gain at most ``threshold``, or the round
            limit reached).
        classic_reason: its reason.
        decay: the gain-decay fit, or ``None`` (fewer than 3 rounds, or not fittable).
        decay_reason: why ``decay`` is ``None``; ``""`` when there is a fit.
        saturation: the saturating fit, or ``None`` (fewer than 4 rounds, or not fittable).
        saturation_reason: why ``saturation`` is ``None``; ``""`` when there is a fit.
        knee: the knee and stop point, or ``None`` (fewer than 3 rounds).
        recommendation: ``"stop"``, ``"continue"`` or ``"not enough evidence"``: the rule's
            verdict.
        reasons: the rule's reasons, one per member, then the knee's sentence.
        warnings: the repairs made to the history and anomalies (a round that lowered the
            metric).
    """

    labeled: np.ndarray
    metric: np.ndarray
    gains: np.ndarray
    new_labels: np.ndarray
    roi_per_100: np.ndarray
    threshold: float
    classic_stop: bool
    classic_reason: str
    decay: curves.DecayFit | None
    decay_reason: str
    saturation: curves.SaturationFit | None
    saturation_reason: str
    knee: curves.Knee | None
    recommendation: str
    reasons: list[str]
    warnings: list[str]

    @property
    def n_rounds(self) -> int:
        """Rounds analyzed (after the repairs listed in ``warnings``)."""
        return len(self.labeled)

    def summary(self) -> str:
        """The recommendation and its reasons, in plain words."""
        lines = [f"recommendation: {self.recommendation}"]
        lines += [f"  - {r}" for r in self.reasons]
        lines += [f"  (note: {w})" for w in self.warnings]
        return "\n".join(lines)


def analyze(labeled_counts: Sequence[float], metrics: Sequence[float], *,
            threshold: float = DEFAULT_THRESHOLD, max_rounds: int = DEFAULT_MAX_ROUNDS,
            budget: float | None = None, target: float | None = None, n_bootstrap: int = 200,
            random_state=0, rule: StoppingRule | None = None,
            history: History | None = None) -> CurveAnalysis:
    """The whole analysis of one learning curve and the rule's recommendation.

    Args:
        labeled_counts: labeled images (or boxes) after each round.
        metrics: the metric (mAP50) after each round.
        threshold: the gain per round below which a round does not pay.
        max_rounds: the round limit.
        budget: the total label budget, for "metric at the budget" and labels saved.
        target: a metric to reach, for "labels needed".
        rule: the stopping rule that makes the recommendation (default :func:`default_rule`
            with ``threshold``, ``max_rounds``, ``n_bootstrap``, ``random_state``).
        history: the full :class:`History` the rule sees (per-class AP, agreements); its
            labeled counts and metric must be ``labeled_counts`` and ``metrics``.
    """
    n, m, notes = curves.clean_history(labeled_counts, metrics)
    history = history or History(list(labeled_counts), list(metrics))
    saturation_rule = SaturationGainBelow(threshold, n_bootstrap, random_state, budget, target)
    rule = rule or AnyOf(MaxRounds(max_rounds), GainBelow(threshold),
                         PredictedGainBelow(threshold), saturation_rule)
    verdict = rule.verdict(history)
    if len(n) == 0:
        why = "no round has a metric yet"
        empty = np.zeros(0)
        return CurveAnalysis(n, m, empty, empty, empty, threshold, False, why, None, why, None,
                             why, None, verdict.word, verdict.reason.splitlines(), notes)
    gains, new = np.diff(m), np.diff(n)
    if np.any(gains < 0):
        worst = int(np.argmin(gains))
        notes.append(f"the metric fell in round {worst + 2} ({gains[worst]:+.3f}): noise or a "
                     "training problem; the fits below use the curve as measured")
    classic_stop, classic_reason = curves.classic_rule(gains, len(n), threshold, max_rounds)
    decay = curves.fit_gain_decay(gains) if len(n) >= curves.MIN_ROUNDS_DECAY else None
    decay_reason = ("" if decay is not None else PredictedGainBelow(threshold).explain(history))
    saturation, saturation_reason = saturation_rule.fit(history)
    knee = curves.find_knee(n, m, gains, threshold, budget)
    reasons = verdict.reason.splitlines()
    if knee is not None:
        reasons.append(f"returns began to fall at round {knee.knee_round} (the knee, "
                       f"{knee.knee_labels:.0f} labels); the last round that gained more than "
                       f"{threshold} ended at {knee.stop_labels:.0f} labels")
    return CurveAnalysis(n, m, gains, new, 100.0 * gains / new, threshold, classic_stop,
                         classic_reason, decay, decay_reason, saturation, saturation_reason, knee,
                         verdict.word, reasons, notes)


# --------------------------------------------------------------------------- agreement


def prediction_agreement(detections_a: Sequence[Detections], detections_b: Sequence[Detections],
                         *, iou_threshold: float = 0.5) -> float:
    """Kappa-like agreement of two models' detections on the same images (module docstring).

    Args:
        detections_a, detections_b: one :class:`Detections` per image for each model (already
            filtered by confidence), in the same image order.
        iou_threshold: the IoU at or above which two boxes are matched into one unit.
    Returns:
        kappa, at most 1 (1 when neither model finds anything or both agree exactly).
    """
    if len(detections_a) != len(detections_b):
        raise ValueError("both models must be scored on the same stop-set images")
    pairs = []
    for a, b in zip(detections_a, detections_b, strict=True):
        members = [a, b]
        for group in match_boxes(members, iou_threshold=iou_threshold):
            label = {m: int(members[m].class_id[i]) for m, i in group}
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
    """:func:`prediction_agreement` of two :class:`alkit.PoolScores` of the same stop set.

    Args:
        scores_a, scores_b: the two models' :class:`alkit.PoolScores`, of the same images in the
            same order (checked by image hash; ``ValueError`` otherwise).
        conf_threshold: boxes at or above it count; ``None`` uses each scores' own
            ``conf_threshold``.
        iou_threshold: the IoU at or above which two boxes are matched.
    """
    if list(scores_a.hashes) != list(scores_b.hashes):
        raise ValueError("the two models were scored on different stop-set images")

    def boxes(scores) -> list[Detections]:
        return [scores.detections(i, conf_threshold=conf_threshold) for i in range(len(scores))]

    return prediction_agreement(boxes(scores_a), boxes(scores_b), iou_threshold=iou_threshold)


# --------------------------------------------------------------------------- per class


@dataclass(frozen=True)
class ClassTrend:
    """One class across rounds: its gains and whether it has plateaued.

    Attributes:
        name: the class name.
        ap: (R,) its AP50 per round, as given (NaN rounds kept).
        gains: its gains between the rounds with a finite AP.
        plateau: True when each of the last ``window`` gains is at most the threshold
            (:func:`class_trends`).
        reason: the verdict in plain words.
    """

    name: str
    ap: np.ndarray
    gains: np.ndarray
    plateau: bool
    reason: str


def class_trends(per_class: dict[str, Sequence[float]], *, threshold: float = 0.01,
                 window: int = 2) -> list[ClassTrend]:
    """Gains per class; a class has plateaued when each of its last ``window`` gains is at most
    ``threshold``. Such a class needs targeted data (more of it in the pool, a different
    source) rather than more general rounds.

    ``per_class`` maps a class name to its (R,) AP50 per round (NaN rounds are skipped);
    ``threshold`` and ``window`` as above. Returns one :class:`ClassTrend` per class, in the
    mapping's order (no plateau with fewer than ``window + 1`` finite rounds).
    """
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
