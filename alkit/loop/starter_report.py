"""The starter experiment's report: per-arm results, their summary over seeds, a verdict that
never claims more than the seed-to-seed spread, and the printout of ``alkit starter``.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from alkit.data import files

REPORT_FILE = "starter_report.json"
PLOT_FILE = "starter.png"


@dataclass(frozen=True)
class ArmResult:
    """One trained arm on one seed, measured on the test split.

    Attributes:
        arm: ``"bottom"``, ``"random"`` or ``"control"``.
        seed: the training seed (and, for the random arm, the seed of its picks).
        n_new_labels: pool images labeled for it (0 for the control).
        n_new_objects: boxes in those labels.
        map50, map50_95, ap50_per_class: test metrics.
        gain: ``map50`` minus the seed model's test mAP50.
        gain_per_100: ``100 * gain / n_new_labels`` (None for the control).
        train_seconds: wall time of its training (when it was trained).
        weights: its best checkpoint.
        cached: True when this run reused a finished result.
    """

    arm: str
    seed: int
    n_new_labels: int
    n_new_objects: int
    map50: float
    map50_95: float
    ap50_per_class: dict[str, float]
    gain: float
    gain_per_100: float | None
    train_seconds: float
    weights: str
    cached: bool = False


@dataclass(frozen=True)
class ArmSummary:
    """An arm over its seeds: mean and range of mAP50, mean gain per 100 labels, and per
    class the mean, min and max AP50.

    Attributes:
        arm: ``"bottom"``, ``"random"`` or ``"control"``.
        n_seeds: how many seeds (results) it summarizes.
        map50_mean, map50_min, map50_max: mean, min and max test mAP50 over the seeds.
        gain_per_100_mean: mean of the results' ``gain_per_100``; None when any is None (the
            control).
        ap50_mean, ap50_min, ap50_max: per class name, the mean, min and max test AP50 over
            the seeds (a seed that lacks the class is ignored).
    """

    arm: str
    n_seeds: int
    map50_mean: float
    map50_min: float
    map50_max: float
    gain_per_100_mean: float | None
    ap50_mean: dict[str, float]
    ap50_min: dict[str, float]
    ap50_max: dict[str, float]


@dataclass
class StarterReport:
    """What the starter experiment measured (written as JSON next to its plot).

    ``seed_test`` holds the seed model's test metrics (``map50``, ``map50_95``,
    ``ap50_per_class``); ``picks`` the picked image paths (``bottom``, ``random-s<seed>``);
    ``overlap`` per seed the images both arms share; ``condition_mix`` (sample benchmark only,
    from the generator's metadata, analysis only) the share of each scene condition in the
    pool and in the picks.

    Attributes:
        dataset: the dataset yaml's path.
        pool: the scored pool (a folder or the yaml's ``pool`` split).
        n_pool: how many pool images were scored.
        n_skipped: how many pool images the scoring skipped.
        budget: K, what each arm may spend on labels, in ``budget_unit``.
        seeds: the training seeds, one run of every arm per seed.
        config: the settings used: ``recipe`` (the training recipe as a dict), ``budget``,
            ``n_seeds``, ``control`` (whether the control arm ran), ``conf_threshold`` and
            (when not in images) ``budget_unit``, ``seconds_per_image``, ``seconds_per_box``.
        start: in words, where the seed model came from.
        seed_weights: the seed model's checkpoint path.
        n_seed_images: how many labeled images the seed model was trained on.
        seed_test, picks, overlap, condition_mix: see above.
        n_empty_picks: how many bottom-K picks have no box at or above the confidence
            threshold.
        bottom_scores: the bottom-K picks' scores (``least_confidence_max``; higher = less
            confident), in pick order.
        arms: every :class:`ArmResult`, by seed then arm.
        verdict: the plain-words verdict (see :func:`verdict`); empty until set.
        seconds: wall time of the whole experiment, in seconds.
        out_dir: the folder of the report, its plot and the scores.
        scores_path: the saved pool scores (``scores.npz``).
        budget_unit: ``"images"``, ``"boxes"`` (the model's predicted boxes) or ``"cost"``
            (annotation seconds of the cost model, :mod:`alkit.core.cost`).
    """

    dataset: str
    pool: str
    n_pool: int
    n_skipped: int
    budget: float
    seeds: list[int]
    config: dict
    start: str
    seed_weights: str
    n_seed_images: int
    seed_test: dict
    n_empty_picks: int
    overlap: list[int]
    picks: dict[str, list[str]]
    bottom_scores: list[float]
    arms: list[ArmResult]
    verdict: str = ""
    condition_mix: dict | None = None
    seconds: float = 0.0
    out_dir: str = ""
    scores_path: str = ""
    budget_unit: str = "images"

    @property
    def k(self) -> str:
        """K as written in the arms' names (:func:`budget_label`)."""
        return budget_label(self.budget, self.budget_unit)

    def new_images(self, arm: str) -> float:
        """Mean images an arm labeled over the seeds (K itself for budgets in images)."""
        return float(np.mean([r.n_new_labels for r in self.arms if r.arm == arm]))

    def summary(self) -> dict[str, ArmSummary]:
        """Per arm (bottom, random, and control when run), its :class:`ArmSummary`."""
        names = [a for a in ("bottom", "random", "control") if any(r.arm == a for r in self.arms)]
        return {a: summarize_arm([r for r in self.arms if r.arm == a]) for a in names}

    def differences(self) -> np.ndarray:
        """(n_seeds,) bottom-K minus random-K test mAP50, paired by seed."""
        return np.array([self._map50("bottom", s) - self._map50("random", s) for s in self.seeds])

    def _map50(self, arm: str, seed: int) -> float:
        return next(r.map50 for r in self.arms if r.arm == arm and r.seed == seed)

    def to_dict(self) -> dict:
        """Plain JSON-able dict (summaries and differences included)."""
        data = asdict(self)
        data["summary"] = {k: asdict(v) for k, v in self.summary().items()}
        data["differences"] = self.differences().tolist()
        return data

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``starter_report.json`` into ``directory`` (atomic); returns its path."""
        return files.write_json(Path(directory) / REPORT_FILE, self.to_dict())

    def plot(self):
        """The comparison figure (mAP50 per arm and seed, AP50 per class); returns it."""
        from alkit.viz import plots

        label = {"bottom": f"bottom-{self.k}", "random": f"random-{self.k}",
                 "control": "seed only"}
        per_arm = {label[a]: [r for r in self.arms if r.arm == a] for a in self.summary()}
        return plots.plot_arm_comparison(
            {k: [r.map50 for r in v] for k, v in per_arm.items()},
            {k: [r.ap50_per_class for r in v] for k, v in per_arm.items()},
            baseline=self.seed_test["map50"], baseline_per_class=self.seed_test["ap50_per_class"],
            title=f"{budget_words(self.budget, self.budget_unit)} of labels chosen two ways "
                  f"({len(self.seeds)} seed"
                  f"{'s' if len(self.seeds) > 1 else ''})")

    def format(self) -> str:
        """The report as the lines ``alkit starter`` prints."""
        return format_report(self)


def summarize_arm(results: list[ArmResult]) -> ArmSummary:
    """Mean, min and max over the seeds of one arm's results."""
    if not results:
        raise ValueError("summarize_arm needs at least one result")
    map50 = np.array([r.map50 for r in results])
    classes = list(dict.fromkeys(c for r in results for c in r.ap50_per_class))
    ap = {c: np.array([r.ap50_per_class.get(c, np.nan) for r in results]) for c in classes}
    return ArmSummary(
        results[0].arm, len(results), float(map50.mean()), float(map50.min()),
        float(map50.max()), _mean_or_none([r.gain_per_100 for r in results]),
        {c: float(np.nanmean(v)) for c, v in ap.items()},
        {c: float(np.nanmin(v)) for c, v in ap.items()},
        {c: float(np.nanmax(v)) for c, v in ap.items()})


def budget_label(budget: float, unit: str = "images") -> str:
    """K as written in arm names: ``200`` (images), ``600box`` (boxes), ``20000s`` (cost).

    Args:
        budget: K in ``unit``.
        unit: ``"images"``, ``"boxes"`` or ``"cost"``.
    """
    suffix = {"images": "", "boxes": "box", "cost": "s"}
    if unit not in suffix:
        raise ValueError(f"budget unit must be one of {tuple(suffix)}, got {unit!r}")
    return f"{budget:g}{suffix[unit]}"


def budget_words(budget: float, unit: str = "images") -> str:
    """K in words: ``200 images``, ``600 boxes``, ``5.6 h (20000 s)``.

    Args:
        budget: K in ``unit``.
        unit: ``"images"``, ``"boxes"`` or ``"cost"``.
    """
    if unit == "cost":
        return f"{budget / 3600:.1f} h ({budget:g} s)"
    return f"{budget:g} {unit}"


def verdict(bottom_map50, random_map50, *, budget: int | str) -> str:
    """A plain-words verdict from paired per-seed test mAP50 of the two arms.

    The difference of each seed (bottom - random) is compared with the seed-to-seed spread
    (the larger of the two arms' max - min over seeds). It only says "beat" when every seed
    agrees on the sign and the mean difference exceeds that spread; otherwise it says the
    difference is within the noise. One seed gives no spread, so no verdict beyond the number.
    This is a rule of thumb for a handful of seeds, not a significance test.

    Args:
        bottom_map50: (n_seeds,) test mAP50 of the bottom-K arm, one per seed.
        random_map50: (n_seeds,) test mAP50 of the random-K arm, same seed order.
        budget: K, the number of labels each arm got, or its label (:func:`budget_label`;
            named in the sentence).

    Returns:
        A sentence or a few. Arrays of different or zero length raise ``ValueError``.
    """
    bottom = np.asarray(bottom_map50, dtype=np.float64)
    rand = np.asarray(random_map50, dtype=np.float64)
    if bottom.shape != rand.shape or bottom.ndim != 1 or len(bottom) == 0:
        raise ValueError("verdict needs two equal-length, non-empty (n_seeds,) arrays")
    k, diff = budget, bottom - rand
    mean = float(diff.mean())
    if np.all(np.abs(diff) < 0.0005):
        return (f"bottom-{k} and random-{k} scored the same test mAP50 (within 0.0005) in "
                f"every seed: no difference.")
    if len(diff) == 1:
        return (f"With one seed, bottom-{k} scored {mean:+.3f} mAP50 against random-{k}; a "
                "single run cannot tell that apart from training noise. Run more seeds "
                "(--seeds / n_seeds) before drawing a conclusion.")
    spread = float(max(np.ptp(bottom), np.ptp(rand)))
    n = len(diff)
    if np.all(diff > 0) or np.all(diff < 0):
        winner, loser = (f"bottom-{k}", f"random-{k}") if mean > 0 else (f"random-{k}",
                                                                        f"bottom-{k}")
        if abs(mean) > spread:
            return (f"{winner} beat {loser} in all {n} seeds, by {abs(mean):.3f} mAP50 on "
                    f"average, more than the seed-to-seed spread ({spread:.3f}). On this pool "
                    f"and recipe, {_lesson(mean > 0)} ({n} seeds; not a significance test).")
        return (f"{winner} was ahead in all {n} seeds, by {abs(mean):.3f} mAP50 on average, but "
                f"that is within the seed-to-seed spread ({spread:.3f}): suggestive, not "
                "conclusive. More seeds or a larger pool would tell.")
    return (f"No clear winner: the difference (bottom - random) changes sign across the {n} "
            f"seeds ({', '.join(f'{d:+.3f}' for d in diff)}; mean {mean:+.3f}) against a "
            f"seed-to-seed spread of {spread:.3f}. On this pool and recipe, choosing the least "
            "confident images made no difference that the numbers can show.")


def _mean_or_none(values: list) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def _lesson(bottom_won: bool) -> str:
    if bottom_won:
        return "labeling the least confident images paid off more than labeling at random"
    return "a random sample was worth more than the least confident images"


# --------------------------------------------------------------------------- the printout


def format_report(report: StarterReport) -> str:
    """The comparison as printed at the end of ``alkit starter`` / ``make demo``: the lines
    of ``report`` (a :class:`StarterReport` with its verdict set), joined by newlines."""
    k, summary = report.k, report.summary()
    lines = ["", f"alkit starter: bottom-{k} vs random-{k}", *_setup_lines(report), "",
             f"  {'':<14} {'test mAP50':>10}  {'range over seeds':>16}  {'gain/100 labels':>15}",
             f"  {'seed model':<14} {report.seed_test['map50']:>10.3f}"]
    names = {"bottom": f"bottom-{k}", "random": f"random-{k}", "control": "seed only"}
    for arm, s in summary.items():
        gain = "" if arm == "control" else f"{s.gain_per_100_mean:+.3f}"
        lines.append(f"  {names[arm]:<14} {s.map50_mean:>10.3f}  "
                     f"{s.map50_min:.3f} - {s.map50_max:.3f}  {gain:>15}")
    diff = report.differences()
    lines.append(f"  {'difference':<14} {diff.mean():>+10.3f}  per seed: "
                 + ", ".join(f"{d:+.3f}" for d in diff))
    lines += _control_lines(report, summary)
    lines += _cost_lines(report, names)
    lines += ["", *_class_lines(report, summary, names)]
    lines += _condition_lines(report)
    lines += ["", *_wrap("verdict: " + report.verdict, "  "), "",
              f"  report: {Path(report.out_dir) / REPORT_FILE}",
              f"  plot:   {Path(report.out_dir) / PLOT_FILE}",
              f"  {report.seconds:.0f} s in all"
              + (f" ({sum(a.cached for a in report.arms)} arms from the cache)"
                 if any(a.cached for a in report.arms) else "")]
    return "\n".join(line.rstrip() for line in lines)


def _setup_lines(r: StarterReport) -> list[str]:
    c, k = r.config, r.k
    text = [
        f"seed model: {r.start} ({r.n_seed_images} labeled images).",
        f"pool: {r.n_pool} images scored ({r.n_skipped} skipped); bottom-{k} = the {k} whose "
        f"weakest box is least confident ({r.n_empty_picks} of them with no box >= "
        f"{c['conf_threshold']}, which counts as least confident).",
        _share_line(r),
        f"each arm: the seed images + {_new_words(r)}, retrained from the seed model, "
        f"{_plural(c['recipe']['epochs'], 'epoch')} at {c['recipe']['imgsz']} px; seeds "
        f"{', '.join(map(str, r.seeds))}.",
    ]
    return [line for t in text for line in _wrap(t, "  ", subsequent="    ")]


def _cost_lines(r: StarterReport, names: dict) -> list[str]:
    """What each arm's labels cost: images, boxes and annotator hours (the cost model)."""
    from alkit.core.cost import CostModel

    model = CostModel(r.config.get("seconds_per_image", CostModel.seconds_per_image),
                      r.config.get("seconds_per_box", CostModel.seconds_per_box))
    parts = []
    for arm in ("bottom", "random"):
        boxes = [a.n_new_objects for a in r.arms if a.arm == arm]
        if boxes:
            mean = float(np.mean(boxes))
            hours = model.total(r.new_images(arm), mean) / 3600
            images = "" if r.budget_unit == "images" else f"{r.new_images(arm):.0f} images, "
            parts.append(f"{names[arm]} {images}{mean:.0f} boxes ({hours:.1f} h)")
    if not parts:
        return []
    text = (f"labels bought (mean over seeds; {model.describe()}): " + ", ".join(parts)
            + ".")
    return _wrap(text, "  ", subsequent="    ")


def _share_line(r: StarterReport) -> str:
    """How big K is against the pool, and how many picks the arms share."""
    shared = f"the arms share {float(np.mean(r.overlap)):.0f} images on average."
    if r.budget_unit == "images":
        return f"K = {r.k} is {r.budget / r.n_pool:.0%} of the pool: {shared}"
    unit = ("boxes as the model predicts them" if r.budget_unit == "boxes" else
            "annotation time, priced with the model's expected boxes")
    return (f"K = {budget_words(r.budget, r.budget_unit)} per arm ({unit}): bottom bought "
            f"{r.new_images('bottom'):.0f} images, random {r.new_images('random'):.0f} on "
            f"average ({r.new_images('random') / r.n_pool:.0%} of the pool); {shared}")


def _new_words(r: StarterReport) -> str:
    if r.budget_unit == "images":
        return f"{r.k} labeled ones"
    return f"the images {budget_words(r.budget, r.budget_unit)} bought"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _control_lines(r: StarterReport, summary: dict) -> list[str]:
    if "control" not in summary:
        return []
    seed, control = r.seed_test["map50"], summary["control"].map50_mean
    bottom, rand = summary["bottom"].map50_mean, summary["random"].map50_mean
    text = (f"seed only (the same retraining without new labels) reaches {control:.3f}: of the "
            f"gains over the seed model (bottom {bottom - seed:+.3f}, random {rand - seed:+.3f}),"
            f" {control - seed:+.3f} comes from the extra epochs alone; per 100 labels beyond "
            f"that: bottom {100 * (bottom - control) / r.new_images('bottom'):+.3f}, random "
            f"{100 * (rand - control) / r.new_images('random'):+.3f}.")
    return ["", *_wrap(text, "  ", subsequent="    ")]


def _class_lines(r: StarterReport, summary: dict, names: dict) -> list[str]:
    header = f"  {'test AP50':<14} {'seed':>6}" + "".join(f" {names[a]:>11}" for a in summary)
    lines = [header]
    for cls, seed_ap in r.seed_test["ap50_per_class"].items():
        lines.append(f"    {cls:<12} {seed_ap:>6.2f}" + "".join(
            f" {s.ap50_mean.get(cls, float('nan')):>11.2f}" for s in summary.values()))
    return lines


def _condition_lines(r: StarterReport) -> list[str]:
    if not r.condition_mix:
        return []
    mix, k = r.condition_mix, r.k
    lines = ["", "  share of each scene condition (generator metadata, analysis only):",
             f"  {'':<14} {'pool':>6} {f'bottom-{k}':>11} {f'random-{k}':>11}"]
    for c in mix["pool"]:
        lines.append(f"    {c:<12} {mix['pool'][c]:>6.0%} {mix['bottom'][c]:>11.0%} "
                     f"{mix['random'][c]:>11.0%}")
    return lines


def _wrap(text: str, indent: str, width: int = 96, subsequent: str | None = None) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent,
                         subsequent_indent=indent if subsequent is None else subsequent)
