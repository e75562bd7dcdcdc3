"""Learning curves: what another round of labels is worth (numpy and scipy only).

The curve math behind the stopping engine (:func:`alkit.core.stopping.analyze`, which turns one
(labeled count, metric) pair per round, for example (500, 0.41), (700, 0.59), ... with mAP50
as the metric, into a recommendation with its reasons):

* **gains** per round ``g_i = m_i - m_{i-1}`` and **ROI** per 100 new labels
  ``100 * g_i / (n_i - n_{i-1})``;
* the **classic rule**: stop when the last gain is below ``threshold`` (0.005), or at
  ``max_rounds`` (10). A round must gain *more* than the threshold to pay: a gain equal to it
  (to 1e-12, so 0.815 - 0.81 counts as 0.005) stops;
* the **classic curve analysis** (needs at least 3 rounds, i.e. 2 gains): fit
  ``g(k) = g0 * exp(-lambda * k)`` to the gains (k = 1, 2, ... the round index), predict the next
  round's gain ``g(K + 1)``, recommend stopping when it is below the threshold;
* **saturating fits** of the metric against the labeled count (needs at least 4 distinct
  counts): a power law with an asymptote ``m(n) = a - b * n^(-c)`` and an exponential saturation
  ``m(n) = a - b * exp(-c * n)``; the family with the lower residual sum of squares wins (both
  have 3 parameters). A residual bootstrap (``n_bootstrap`` refits) gives 90% intervals for the
  metric at a label count, the labels needed to reach a target metric, and the expected gain of
  one more round. When the fit explains too little (R^2 < 0.8) or the interval is wider than
  ``max_interval`` (0.15), the answer is "not enough evidence" instead of an extrapolation;
* the **knee** of the learning curve by the Kneedle method (Satopaa et al., 2011): with labeled
  counts and metric both min-max normalized to [0, 1], the knee is the point farthest above
  the diagonal, ``argmax(m_norm - n_norm)``: where each further label starts buying clearly less
  than the average label so far (the start of diminishing returns). Separately, the **stop
  point** is the last round whose gain was more than the threshold: every round after it did
  not pay. Labels saved are reported against a ``budget`` for both; the stop point is where to
  stop, the knee is where returns began to fall.

Messy input gets a clear answer or a clear refusal, never an exception from scipy: NaN metrics
are dropped, repeated label counts are averaged, unsorted rounds are sorted, and every such
repair is listed in ``warnings``. Non-monotone curves (a round that lowers the metric) are
analyzed as they are, with the negative gain reported.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

MIN_ROUNDS_DECAY = 3
MIN_POINTS_SATURATION = 4


@dataclass(frozen=True)
class DecayFit:
    """``g(k) = g0 * exp(-lam * k)`` fitted to the gains; ``predicted_next_gain = g(K + 1)``.

    Attributes:
        g0: the fitted scale (the gain the curve gives at k = 0).
        lam: the fitted decay rate per round (positive when the gains shrink).
        predicted_next_gain: ``g(K + 1)`` for K observed gains: the next round's predicted gain.
        r2: coefficient of determination of the straight line through ``(k, log g_k)``
            (measured in log space).
    """

    g0: float
    lam: float
    predicted_next_gain: float
    r2: float


@dataclass(frozen=True)
class Interval:
    """A point estimate with a bootstrap interval (``low``, ``high``); ``None`` bounds mean the
    quantity is unreachable in some resamples.

    Attributes:
        value: the point estimate from the fitted parameters.
        low: the lower end of the (90%) bootstrap interval, ``None`` when no resample gives a
            finite value.
        high: the upper end, ``None`` when some resample gives an infinite value (for example
            a target the curve never reaches). Without resamples both equal ``value``.
    """

    value: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class SaturationFit:
    """The chosen saturating curve and what it answers.

    Attributes:
        family: ``"power"`` (a - b n^-c) or ``"exponential"`` (a - b exp(-c n)).
        params: (a, b, c).
        r2: coefficient of determination of the fit.
        asymptote: ``a`` with its interval: the metric this curve can never exceed.
        evidence: True when the fit is good and the intervals are narrow enough to use.
        next_round_gain: expected gain of one more round of the last round's size.
        metric_at_budget: predicted metric at the budget, when a budget was given.
        labels_for_target: labels needed to reach the target metric, when one was given.
        note: why the evidence is insufficient, when it is.
    """

    family: str
    params: tuple[float, float, float]
    r2: float
    asymptote: Interval
    evidence: bool
    next_round_gain: Interval
    metric_at_budget: Interval | None = None
    labels_for_target: Interval | None = None
    note: str = ""
    _bootstrap: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)), repr=False)

    def predict(self, labeled_counts) -> np.ndarray:
        """The fitted metric at ``labeled_counts`` (a label count or an array of them), in the
        same shape."""
        return _FAMILIES[self.family](np.asarray(labeled_counts, dtype=np.float64), *self.params)

    def predict_interval(self, labeled_counts, level: float = 0.9) -> tuple[np.ndarray, ...]:
        """``(low, high)`` bootstrap band of the fitted metric at ``labeled_counts``.

        ``level`` is the central coverage of the band (0.9: the 5th and 95th percentiles of the
        bootstrap curves). Without bootstrap refits both ends are :meth:`predict`'s value.
        """
        n = np.asarray(labeled_counts, dtype=np.float64)
        if len(self._bootstrap) == 0:
            value = self.predict(n)
            return value, value
        curves = np.stack([_FAMILIES[self.family](n, *p) for p in self._bootstrap])
        tail = (1 - level) / 2 * 100
        return np.percentile(curves, tail, axis=0), np.percentile(curves, 100 - tail, axis=0)


@dataclass(frozen=True)
class Knee:
    """The knee of the learning curve (Kneedle) and the threshold stop point.

    Rounds are 1-based positions in the cleaned history (:func:`clean_history`).

    Attributes:
        knee_labels: the labeled count at the knee (:func:`kneedle`).
        knee_round: the knee's round.
        stop_labels: the labeled count at the stop point, the last round whose gain was more
            than the threshold (the first round when none was).
        stop_round: the stop point's round.
        labels_saved_at_knee: ``budget - knee_labels``; ``None`` without a budget.
        labels_saved_at_stop: ``budget - stop_labels``; ``None`` without a budget.
        saving_at_stop: ``1 - stop_labels / budget``, the share of the budget saved by stopping
            at the stop point; ``None`` without a budget.
    """

    knee_labels: float
    knee_round: int
    stop_labels: float
    stop_round: int
    labels_saved_at_knee: float | None
    labels_saved_at_stop: float | None
    saving_at_stop: float | None


# --------------------------------------------------------------------------- cleaning


def clean_history(labeled_counts, metrics) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Sort by labeled count, drop NaN metrics, average repeated counts; list every repair.

    ``labeled_counts`` and ``metrics`` are (R,) sequences, the labeled count and the metric
    after each round (same length, ``ValueError`` otherwise; a round with a non-finite count or
    metric is dropped). Returns ``(labeled, metric, notes)``: increasing distinct counts, their
    metrics and one sentence per repair made.
    """
    n = np.asarray(labeled_counts, dtype=np.float64).reshape(-1)
    m = np.asarray(metrics, dtype=np.float64).reshape(-1)
    if n.shape != m.shape:
        raise ValueError(f"expected one metric per labeled count, got {n.shape} and {m.shape}")
    notes = []
    bad = ~np.isfinite(n) | ~np.isfinite(m)
    if bad.any():
        notes.append(f"dropped {int(bad.sum())} round(s) with a missing (NaN) metric or count")
        n, m = n[~bad], m[~bad]
    if np.any(np.diff(n) < 0):
        notes.append("rounds were not in order of labeled count; sorted them")
    order = np.argsort(n, kind="stable")
    n, m = n[order], m[order]
    unique, inverse = np.unique(n, return_inverse=True)
    if len(unique) < len(n):
        notes.append("several rounds had the same labeled count; their metrics were averaged")
        m = np.bincount(inverse, weights=m) / np.bincount(inverse)
        n = unique
    return n, m, notes


# --------------------------------------------------------------------------- decay of gains


def fit_gain_decay(gains, *, floor: float = 5e-4) -> DecayFit | None:
    """Fit ``g(k) = g0 exp(-lam k)`` (k = 1..K) to the gains; ``None`` if it cannot be fitted.

    The classic way: a straight line through ``(k, log g_k)`` (least squares in log space, so a
    0.005 gain weighs as much as a 0.18 one). Gains at or below ``floor`` (zero or negative:
    the metric stalled or fell) enter as ``floor``. ``r2`` is measured in log space.
    """
    g = np.asarray(gains, dtype=np.float64)
    if len(g) < 2 or not np.all(np.isfinite(g)):
        return None
    k = np.arange(1, len(g) + 1, dtype=np.float64)
    log_g = np.log(np.maximum(g, floor))
    slope, intercept = np.polyfit(k, log_g, 1)
    g0, lam = float(np.exp(intercept)), float(-slope)
    fitted = intercept + slope * k
    return DecayFit(g0, lam, float(g0 * np.exp(-lam * (len(g) + 1))), _r2(log_g, fitted))


def _curve_fit(model, x, y, start, bounds):
    from scipy.optimize import OptimizeWarning, curve_fit

    start = np.clip(np.asarray(start, dtype=np.float64), bounds[0], bounds[1])
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", OptimizeWarning)
            _warnings.simplefilter("ignore", RuntimeWarning)
            params, _ = curve_fit(model, x, y, p0=start, bounds=bounds, maxfev=5000)
    except (RuntimeError, ValueError, FloatingPointError, np.linalg.LinAlgError):
        return None
    return params if np.all(np.isfinite(params)) else None


def _r2(y, fitted) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    residual = float(((y - fitted) ** 2).sum())
    if total <= 1e-18:
        return 1.0 if residual <= 1e-18 else 0.0
    return 1.0 - residual / total


# --------------------------------------------------------------------------- saturating fits


def _power(n, a, b, c):
    return a - b * np.power(np.maximum(n, 1e-9), -c)


def _exponential(n, a, b, c):
    return a - b * np.exp(-c * n)


_FAMILIES: dict[str, Callable] = {"power": _power, "exponential": _exponential}


def _fit_family(family: str, n, m, start=None):
    """Least-squares fit of one family from a few starting points (or the one given);
    ``(params, sse)`` or None."""
    scale = float(n.max())
    span = float(max(m.max() - m.min(), 1e-3))
    best = None
    if family == "power":
        starts = [(m.max() + span * f, span * scale**c * 2, c) for f in (0.1, 0.5) for c in
                  (0.5, 1.0)]
        bounds = ([m.max() - 1e-9, 0.0, 0.01], [np.inf, np.inf, 5.0])
    else:
        starts = [(m.max() + span * f, span * 2 * np.exp(c * n.min() / scale),
                   c / scale) for f in (0.1, 0.5) for c in (1.0, 3.0)]
        bounds = ([m.max() - 1e-9, 0.0, 1e-9], [np.inf, np.inf, 50.0 / scale])
    if start is not None:
        starts = [start]
    for start in starts:
        params = _curve_fit(_FAMILIES[family], n, m, start, bounds)
        if params is None:
            continue
        sse = float(((m - _FAMILIES[family](n, *params)) ** 2).sum())
        if best is None or sse < best[1]:
            best = (params, sse)
    return best


def fit_saturation(labeled, metric, *, budget=None, target=None, step=None,
                   n_bootstrap: int = 200, max_interval: float = 0.15, min_r2: float = 0.8,
                   random_state=None) -> tuple[SaturationFit | None, str]:
    """Fit both saturating families, keep the better, bootstrap its answers.

    Returns ``(fit, reason)``; ``fit`` is ``None`` (with the reason) when there are fewer than
    :data:`MIN_POINTS_SATURATION` points or no family can be fitted; ``reason`` is ``""`` with a
    fit.

    Args:
        labeled: (R,) labeled counts, increasing and distinct (as from :func:`clean_history`).
        metric: (R,) the metric at each count.
        budget: a total label count at which to predict the metric (``metric_at_budget``); the
            width of that interval also enters the evidence test. ``None``: not asked.
        target: a metric value to reach (``labels_for_target``). ``None``: not asked.
        step: the labels one more round adds, for ``next_round_gain``; default the last
            round's size (``labeled[-1] - labeled[-2]``).
        n_bootstrap: residual-bootstrap refits behind the intervals (0: point values only).
        max_interval: the widest 90% interval (of the next-round gain and of the metric at the
            budget) that still counts as evidence.
        min_r2: the smallest R^2 of the fit that still counts as evidence.
        random_state: seed (or ``numpy.random.Generator``) of the bootstrap resampling.
    """
    n = np.asarray(labeled, dtype=np.float64)
    m = np.asarray(metric, dtype=np.float64)
    if len(n) < MIN_POINTS_SATURATION:
        return None, (f"a saturating curve has 3 parameters and needs at least "
                      f"{MIN_POINTS_SATURATION} rounds; there are {len(n)}")
    fits = {f: _fit_family(f, n, m) for f in _FAMILIES}
    fits = {f: v for f, v in fits.items() if v is not None}
    if not fits:
        return None, "neither saturating curve could be fitted to these points"
    family = min(fits, key=lambda f: fits[f][1])
    params = fits[family][0]
    fitted = _FAMILIES[family](n, *params)
    r2 = _r2(m, fitted)
    boot = _bootstrap(family, n, m, fitted, params, n_bootstrap, random_state)
    step = float(step if step is not None else (np.diff(n)[-1] if len(n) > 1 else 0.0))
    answers = _answers(family, params, boot, n[-1], step, budget, target)
    notes = []
    if r2 < min_r2:
        notes.append(f"the curve explains only {r2:.0%} of the metric's variation (noise)")
    width = answers["next"].high - answers["next"].low if answers["next"].high is not None else 0
    if answers["budget"] is not None and answers["budget"].high is not None:
        width = max(width, answers["budget"].high - answers["budget"].low)
    if width > max_interval:
        notes.append(f"the 90% interval is {width:.2f} wide (more than {max_interval})")
    fit = SaturationFit(
        family=family, params=tuple(float(p) for p in params), r2=r2,
        asymptote=_interval(params[0], boot[:, 0] if len(boot) else np.zeros(0)),
        evidence=not notes, next_round_gain=answers["next"], metric_at_budget=answers["budget"],
        labels_for_target=answers["target"], note="; ".join(notes), _bootstrap=boot,
    )
    return fit, ""


def _bootstrap(family, n, m, fitted, params, n_bootstrap, random_state) -> np.ndarray:
    """Residual bootstrap: refit the chosen family to ``fitted + resampled residuals``,
    starting from the fitted parameters."""
    rng = np.random.default_rng(random_state)
    residuals = m - fitted
    results = []
    for _ in range(n_bootstrap):
        sample = fitted + rng.choice(residuals, size=len(residuals), replace=True)
        best = _fit_family(family, n, sample, start=params)
        if best is not None:
            results.append(best[0])
    return np.array(results).reshape(-1, 3)


def _interval(value: float, samples: np.ndarray, level: float = 0.9) -> Interval:
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size == 0:
        return Interval(float(value), float(value), float(value))
    if not np.all(np.isfinite(samples)):
        finite = samples[np.isfinite(samples)]
        low = float(np.percentile(finite, (1 - level) / 2 * 100)) if finite.size else None
        return Interval(float(value), low, None)
    tail = (1 - level) / 2 * 100
    return Interval(float(value), float(np.percentile(samples, tail)),
                    float(np.percentile(samples, 100 - tail)))


def labels_for_metric(family: str, params, target: float) -> float:
    """Labeled count at which the fitted curve reaches ``target`` (inf if it never does).

    ``family`` is ``"power"`` or ``"exponential"`` and ``params`` its fitted ``(a, b, c)``
    (:class:`SaturationFit`). A ``target`` at or above the asymptote ``a`` gives inf; one at or
    below ``a - b`` (where the curve starts) gives 0.0.
    """
    a, b, c = params
    if target >= a:
        return float("inf")
    if target <= a - b:
        return 0.0
    if family == "power":
        return float((b / (a - target)) ** (1.0 / c))
    return float(np.log(b / (a - target)) / c)


def _answers(family, params, boot, last, step, budget, target) -> dict:
    f = _FAMILIES[family]

    def gain(p):
        return f(last + step, *p) - f(last, *p)

    answers = {"next": _interval(gain(params), np.array([gain(p) for p in boot])),
               "budget": None, "target": None}
    if budget is not None:
        answers["budget"] = _interval(f(budget, *params), np.array([f(budget, *p) for p in boot]))
    if target is not None:
        answers["target"] = _interval(
            labels_for_metric(family, params, target),
            np.array([labels_for_metric(family, p, target) for p in boot]))
    return answers


# --------------------------------------------------------------------------- knee


def kneedle(labeled, metric) -> int:
    """Index of the knee of an increasing, concave curve: ``argmax(m_norm - n_norm)`` with both
    axes min-max normalized (Satopaa et al., 2011). 0 for a flat curve.

    ``labeled`` is the (R,) labeled counts and ``metric`` the (R,) metric at each; fewer than 3
    points also give 0. The result is a 0-based index into them.
    """
    n = np.asarray(labeled, dtype=np.float64)
    m = np.asarray(metric, dtype=np.float64)
    if len(n) < 3 or n.max() <= n.min() or m.max() <= m.min():
        return 0
    n_norm = (n - n.min()) / (n.max() - n.min())
    m_norm = (m - m.min()) / (m.max() - m.min())
    return int(np.argmax(m_norm - n_norm))


def find_knee(labeled, metric, gains, threshold: float, budget=None) -> Knee | None:
    """Kneedle knee and the threshold stop point, with labels saved against ``budget``.

    Args:
        labeled: (R,) cleaned labeled counts (numpy array).
        metric: (R,) the metric at each count.
        gains: (R - 1,) numpy array of the metric's gain per round, ``diff(metric)``.
        threshold: a round pays when its gain is more than this.
        budget: the total label budget for the savings; ``None`` leaves them ``None``.
    Returns:
        a :class:`Knee`, or ``None`` with fewer than 3 rounds.
    """
    if len(labeled) < 3:
        return None
    k = kneedle(labeled, metric)
    worthwhile = np.flatnonzero(gains > threshold + 1e-12)
    stop = int(worthwhile[-1] + 1) if len(worthwhile) else 0
    knee_labels, stop_labels = float(labeled[k]), float(labeled[stop])

    def saved(at):
        return None if budget is None else float(budget - at)

    return Knee(knee_labels, k + 1, stop_labels, stop + 1, saved(knee_labels),
                saved(stop_labels), None if budget is None else float(1 - stop_labels / budget))


# --------------------------------------------------------------------------- reaching a target


def labels_to_reach(x_R, y_R, target: float) -> float | None:
    """The smallest x at which the piecewise-linear curve (x_R, y_R) reaches ``target``.

    x must be increasing. Returns ``x[0]`` when the curve starts at or above the target,
    ``None`` when it never reaches it; otherwise interpolates linearly inside the first
    segment [x[i-1], x[i]] with ``y[i-1] < target <= y[i]``:
    ``x = x[i-1] + (target - y[i-1]) * (x[i] - x[i-1]) / (y[i] - y[i-1])``.
    """
    x = np.asarray(x_R, dtype=np.float64)
    y = np.asarray(y_R, dtype=np.float64)
    if len(x) == 0:
        return None
    reached = np.flatnonzero(y >= target)
    if len(reached) == 0:
        return None
    i = int(reached[0])
    if i == 0:
        return float(x[0])
    needed = x[i - 1] + (target - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1])
    # rounding can push the interpolated count a hair outside its segment (for example
    # 30.000000000000004 past a last count of 30.0): it never leaves the observed range
    return float(np.clip(needed, x[i - 1], x[i]))


# --------------------------------------------------------------------------- the classic rule


def classic_rule(gains, n_rounds: int, threshold: float = 0.005, max_rounds: int = 10
                 ) -> tuple[bool, str]:
    """``(stop, reason)``: stop when the last gain is at most ``threshold`` or at
    ``max_rounds`` rounds.

    ``gains`` is the sequence of per-round metric gains (the last one is judged; empty: no
    verdict yet, continue) and ``n_rounds`` the number of rounds done, compared with
    ``max_rounds``.
    """
    if n_rounds >= max_rounds:
        return True, f"{n_rounds} rounds reached the limit of {max_rounds}"
    if len(gains) == 0:
        return False, "one round so far: no gain to judge yet"
    last = float(gains[-1])
    if last <= threshold + 1e-12:
        return True, f"the last round gained {last:+.4f}, not more than {threshold}"
    return False, f"the last round gained {last:+.4f}, more than {threshold}"
