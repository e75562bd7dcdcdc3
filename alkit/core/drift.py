"""Drift measures and the change rule of production monitoring (numpy; the KS test from scipy).

Notation: N production images of one batch, M labeled images (the reference), D embedding
dimensions, C classes. Every function takes arrays and returns arrays or numbers; nothing here
reads a file or runs a model (the loop, :mod:`alkit.loop.monitor`, does).

Measures of one batch against the labeled set:

* **far share** (:func:`far_share`): with ``r_j`` the distance of labeled image ``j`` to its
  nearest *other* labeled image and ``t = quantile_q(r)`` (q = 0.95), the share of production
  images whose nearest labeled image is farther than ``t``:
  ``far = mean_i [min_j ||x_i - l_j|| > t]``. Without drift it is about ``1 - q``.
* **two-sample test on confidences** (:func:`ks_2samp`): the Kolmogorov-Smirnov statistic
  ``D = max_x |F_a(x) - F_b(x)|`` of two samples and its p-value, by
  :func:`scipy.stats.ks_2samp`.
* **class-mix change** (:func:`total_variation`): ``TV(p, q) = 1/2 sum_c |p_c - q_c|`` between
  two class mixes (shares that sum to 1), 0 = the same mix, 1 = disjoint.

The **change rule** (:class:`ChangeRule`, :func:`detect_changes`) compares each batch with a
baseline: the median of the measure over the earlier batches of the same baseline group (the
same deployed model) that were not themselves marked as changed. See the class for the
thresholds; ``docs/monitoring.md`` writes them down with the reasoning.

The KS test is scipy's (imported when called, as :mod:`alkit.core.cost` and
:mod:`alkit.core.curves` import theirs): scipy comes with scikit-learn, a dependency of alkit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: The quantiles recorded for every uncertainty measure of a batch.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def quantiles(values_N, qs: Sequence[float] = QUANTILES) -> list[float]:
    """The quantiles ``qs`` of ``values_N`` (linear interpolation); NaN for each when empty.

    Args:
        values_N: (N,) numbers.
        qs: quantile levels in [0, 1].
    """
    values = np.asarray(values_N, dtype=np.float64).ravel()
    if not len(values):
        return [float("nan")] * len(qs)
    return [float(v) for v in np.quantile(values, qs)]


def _pairwise(a_N_D: np.ndarray, b_M_D: np.ndarray) -> np.ndarray:
    """(N, M) Euclidean distances by ``|a|^2 + |b|^2 - 2 a.b`` clipped at 0 (fast; used to find
    the nearest row, whose distance is then recomputed exactly)."""
    sq = (np.sum(a_N_D**2, axis=1)[:, None] + np.sum(b_M_D**2, axis=1)[None, :]
          - 2.0 * a_N_D @ b_M_D.T)
    return np.sqrt(np.maximum(sq, 0.0))


def nearest_distances(query_N_D, reference_M_D, *, exclude_self: bool = False,
                      chunk: int = 1024) -> np.ndarray:
    """(N,) Euclidean distance from each query row to its nearest reference row.

    Args:
        query_N_D: (N, D) query embeddings.
        reference_M_D: (M, D) reference embeddings (M >= 1; M >= 2 with ``exclude_self``).
        exclude_self: the query is the reference (N == M): row i's own distance is left out,
            so each row gets the distance to its nearest *other* row.
        chunk: query rows per block (memory is ``chunk * M`` floats).
    """
    q = np.asarray(query_N_D, dtype=np.float64)
    r = np.asarray(reference_M_D, dtype=np.float64)
    if q.ndim != 2 or r.ndim != 2 or (len(q) and q.shape[1] != r.shape[1]):
        raise ValueError(f"expected (N, D) and (M, D) arrays, got {q.shape} and {r.shape}")
    if len(r) < (2 if exclude_self else 1):
        raise ValueError(f"the reference needs at least {2 if exclude_self else 1} rows, "
                         f"has {len(r)}")
    if exclude_self and len(q) != len(r):
        raise ValueError("exclude_self needs the query to be the reference (same rows)")
    out = np.empty(len(q))
    for lo in range(0, len(q), chunk):
        d = _pairwise(q[lo : lo + chunk], r)
        if exclude_self:
            rows = np.arange(len(d))
            d[rows, lo + rows] = np.inf
        # the expansion loses ~sqrt(eps) |x| to cancellation: the nearest row's distance is
        # recomputed from the difference (identical rows get exactly 0)
        nearest = r[d.argmin(axis=1)]
        out[lo : lo + chunk] = np.linalg.norm(q[lo : lo + chunk] - nearest, axis=1)
    return out


def far_share(production_N_D, labeled_M_D, *, quantile: float = 0.95) -> tuple[float, float]:
    """``(share, threshold)``: the share of production images farther from every labeled image
    than ``threshold``, the ``quantile`` of labeled-to-nearest-other-labeled distances (see the
    module docstring). NaN share for an empty batch.

    Args:
        production_N_D: (N, D) production embeddings.
        labeled_M_D: (M, D) labeled embeddings, M >= 2.
        quantile: the level of the threshold, in (0, 1); 0.95 means "farther than 95% of
            labeled images are from their nearest labeled neighbour".
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    labeled = np.asarray(labeled_M_D, dtype=np.float64)
    threshold = float(np.quantile(nearest_distances(labeled, labeled, exclude_self=True),
                                  quantile))
    production = np.asarray(production_N_D, dtype=np.float64)
    if not len(production):
        return float("nan"), threshold
    return float(np.mean(nearest_distances(production, labeled) > threshold)), threshold


def ks_2samp(a_N, b_M) -> tuple[float, float]:
    """``(D, p)``: the two-sample Kolmogorov-Smirnov statistic and its two-sided p-value.

    ``D = max_x |F_a(x) - F_b(x)|`` over the empirical distribution functions (ties handled:
    both are evaluated after every distinct value). Both come from
    :func:`scipy.stats.ks_2samp` with its default method: the p-value is exact (the
    distribution of D under the null hypothesis, counted over lattice paths) while both samples
    have at most 10,000 values, asymptotic beyond. NaNs for an empty sample.

    Args:
        a_N: (N,) first sample.
        b_M: (M,) second sample.
    """
    from scipy import stats

    a = np.asarray(a_N, dtype=np.float64).ravel()
    b = np.asarray(b_M, dtype=np.float64).ravel()
    if not len(a) or not len(b):
        return float("nan"), float("nan")
    result = stats.ks_2samp(a, b)
    return float(result.statistic), float(result.pvalue)


def class_mix(class_ids, n_classes: int) -> np.ndarray:
    """(C,) the share of each class among ``class_ids`` (zeros when there is none).

    Args:
        class_ids: (K,) int class ids in ``[0, n_classes)``.
        n_classes: C.
    """
    ids = np.asarray(class_ids, dtype=np.int64).ravel()
    if len(ids) and (ids.min() < 0 or ids.max() >= n_classes):
        raise ValueError(f"class ids must lie in [0, {n_classes}), got {ids.min()}..{ids.max()}")
    counts = np.bincount(ids, minlength=n_classes).astype(np.float64)
    return counts / counts.sum() if counts.sum() else counts


def total_variation(p_C, q_C) -> float:
    """``TV(p, q) = 1/2 sum_c |p_c - q_c|`` of two class mixes, in [0, 1]; NaN when either has
    no mass (no detection at all).

    Args:
        p_C: (C,) non-negative shares (normalized here).
        q_C: (C,) non-negative shares (normalized here).
    """
    p, q = np.asarray(p_C, dtype=np.float64), np.asarray(q_C, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"class mixes of different lengths: {p.shape} and {q.shape}")
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())


# --------------------------------------------------------------------------- the change rule


@dataclass(frozen=True)
class ChangeRule:
    """When a batch counts as changed, measure by measure, against its baseline (the median of
    the measure over the earlier unchanged batches of the same group).

    A batch is changed when any of these holds (``b`` = its value, ``m`` = the baseline):

    * flagged rate: ``b >= flagged_ratio * m`` and ``b - m >= flagged_min_rise``;
    * far share: ``b - m >= far_min_rise`` and ``b >= far_ratio * m``;
    * KS statistic of its confidences against the labeled set's: ``b - m >= ks_min_rise``;
    * class-mix TV against the labeled set: ``b - m >= mix_min_rise``.

    Attributes:
        flagged_ratio: how many times the baseline flagged rate counts as a change (2 =
            doubled).
        flagged_min_rise: the smallest rise of the flagged rate (a share) that counts, so that
            0.02 -> 0.05 is no alarm.
        far_ratio: how many times the baseline far share counts as a change.
        far_min_rise: the smallest rise of the far share that counts.
        ks_min_rise: the smallest rise of the KS statistic that counts.
        mix_min_rise: the smallest rise of the class-mix TV that counts.
        min_baseline: a batch is only judged once this many earlier unchanged batches of its
            group exist (the first ones set the baseline).
        window: the baseline is taken over at most this many of the latest such batches.
    """

    flagged_ratio: float = 2.0
    flagged_min_rise: float = 0.15
    far_ratio: float = 2.0
    far_min_rise: float = 0.15
    ks_min_rise: float = 0.25
    mix_min_rise: float = 0.2
    min_baseline: int = 2
    window: int = 8

    def __post_init__(self):
        if self.min_baseline < 1 or self.window < self.min_baseline:
            raise ValueError("ChangeRule needs 1 <= min_baseline <= window")

    def to_dict(self) -> dict:
        """The thresholds as a JSON-able dict."""
        return dict(vars(self))


#: The measures the change rule reads, with the words a report uses for them.
RULE_MEASURES = {
    "flagged_rate": "flagged rate",
    "far_share": "new images far from the labeled set",
    "confidence_ks": "confidence shift (KS vs labeled)",
    "class_mix_tv": "class-mix change (TV vs labeled)",
}


@dataclass(frozen=True)
class Change:
    """The verdict on one batch.

    Attributes:
        changed: whether the rule fired.
        reasons: one sentence per measure that fired (empty when none).
        baseline_batches: the indices (into the series) the baseline was taken over; empty
            while the group has too few batches to judge.
    """

    changed: bool
    reasons: tuple[str, ...]
    baseline_batches: tuple[int, ...]


def _fires(name: str, value: float, base: float, rule: ChangeRule) -> bool:
    if not (np.isfinite(value) and np.isfinite(base)):
        return False
    rise = value - base
    if name == "flagged_rate":
        return value >= rule.flagged_ratio * base and rise >= rule.flagged_min_rise
    if name == "far_share":
        return value >= rule.far_ratio * base and rise >= rule.far_min_rise
    if name == "confidence_ks":
        return rise >= rule.ks_min_rise
    if name == "class_mix_tv":
        return rise >= rule.mix_min_rise
    raise ValueError(f"unknown measure {name!r}; expected one of {list(RULE_MEASURES)}")


def _words(name: str, value: float, base: float, since: str) -> str:
    if name == "flagged_rate":
        times = value / base if base > 0 else float("inf")
        how = "doubled" if 1.9 <= times < 2.5 else (
            f"rose {times:.1f}x" if np.isfinite(times) else "rose from 0")
        return f"flagged rate {how} since {since} ({base:.0%} -> {value:.0%})"
    if name == "far_share":
        return f"new images far from the labeled set: {value:.0%} (was {base:.0%})"
    if name == "confidence_ks":
        return f"confidences shifted: KS {value:.2f} against the labeled set (was {base:.2f})"
    return f"class mix changed: TV {value:.2f} against the labeled set (was {base:.2f})"


def detect_changes(series: Mapping[str, Sequence[float]], *, groups: Sequence | None = None,
                   labels: Sequence[str] | None = None,
                   rule: ChangeRule = ChangeRule()) -> list[Change]:
    """Judge every batch of a monitoring series with ``rule`` (see :class:`ChangeRule`).

    Batch ``i`` is compared with the median of each measure over the batches ``j < i`` of its
    group that were not changed (the latest ``rule.window`` of them); while fewer than
    ``rule.min_baseline`` exist it is not judged. A changed batch never enters a baseline, so
    a lasting drift stays reported instead of becoming the new normal; a new group (a newly
    deployed model) starts a new baseline.

    Args:
        series: measure name (keys of :data:`RULE_MEASURES`) -> (B,) values, one per batch in
            order; NaN values never fire and are left out of baselines.
        groups: (B,) a baseline group per batch (for example the deployed model's hash);
            ``None``: one group.
        labels: (B,) how the reasons name a batch ("batch 12"); default ``batch <index>``.
        rule: the thresholds.

    Returns:
        One :class:`Change` per batch.
    """
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in series.items()}
    unknown = set(arrays) - set(RULE_MEASURES)
    if unknown:
        raise ValueError(f"unknown measures {sorted(unknown)}; expected {list(RULE_MEASURES)}")
    lengths = {len(v) for v in arrays.values()}
    if len(lengths) > 1:
        raise ValueError(f"every measure needs one value per batch, got lengths {lengths}")
    n = lengths.pop() if lengths else 0
    groups = list(groups) if groups is not None else [0] * n
    labels = list(labels) if labels is not None else [f"batch {i}" for i in range(n)]
    if len(groups) != n or len(labels) != n:
        raise ValueError(f"groups and labels need {n} entries, one per batch")
    changes: list[Change] = []
    for i in range(n):
        earlier = [j for j in range(i) if groups[j] == groups[i] and not changes[j].changed]
        base_idx = tuple(earlier[-rule.window:])
        if len(base_idx) < rule.min_baseline:
            changes.append(Change(False, (), ()))
            continue
        reasons = []
        for name, values in arrays.items():
            base_values = values[list(base_idx)]
            base_values = base_values[np.isfinite(base_values)]
            if not len(base_values):
                continue
            base = float(np.median(base_values))
            if _fires(name, float(values[i]), base, rule):
                reasons.append(_words(name, float(values[i]), base, labels[base_idx[0]]))
        changes.append(Change(bool(reasons), tuple(reasons), base_idx))
    return changes
