"""The starter experiment's report: per-arm results, their summary over seeds (mean and sample
standard deviation), what each arm's labels cost, verdicts that never claim more than the
seed-to-seed spread, and the printout of ``alkit starter``.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from alkit.core.cost import CostModel
from alkit.data import files

REPORT_FILE = "starter_report.json"
PLOT_FILE = "starter.png"
#: The arms in the order the report shows them: the seed's bottom-K, the random-K baseline,
#: alkit's default strategy, and the seed-only control.
ARMS = ("bottom", "random", "default", "control")


@dataclass(frozen=True)
class ArmResult:
    """One trained arm on one seed, measured on the test split.

    Attributes:
        arm: ``"bottom"``, ``"random"``, ``"default"`` (alkit's default strategy) or
            ``"control"``.
        seed: the training seed (and, for the random and default arms, the seed of their
            picks).
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
    """An arm over its seeds: mean, sample standard deviation and range of mAP50, mean gain
    per 100 labels, the labels it bought, and per class the mean, min and max AP50.

    Attributes:
        arm: ``"bottom"``, ``"random"``, ``"default"`` or ``"control"``.
        n_seeds: how many seeds (results) it summarizes.
        map50_mean, map50_min, map50_max: mean, min and max test mAP50 over the seeds.
        gain_per_100_mean: mean of the results' ``gain_per_100``; None when any is None (the
            control).
        ap50_mean, ap50_min, ap50_max: per class name, the mean, min and max test AP50 over
            the seeds (a seed that lacks the class is ignored).
        map50_sd: the sample standard deviation of test mAP50 over the seeds,
            ``sqrt(sum (x - mean)^2 / (n_seeds - 1))``; None for one seed.
        n_new_images_mean, n_new_objects_mean: mean pool images and boxes labeled for it.
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
    map50_sd: float | None = None
    n_new_images_mean: float = 0.0
    n_new_objects_mean: float = 0.0


@dataclass
class StarterReport:
    """What the starter experiment measured (written as JSON next to its plot).

    ``seed_test`` holds the seed model's test metrics (``map50``, ``map50_95``,
    ``ap50_per_class``); ``picks`` the picked image paths (``bottom``, ``random-s<seed>`` and
    ``default-s<seed>``); ``overlap`` per seed the images the bottom and random arms share,
    ``overlap_default`` per seed those the default arm shares with each of them;
    ``condition_mix`` (sample benchmark only, from the generator's metadata, analysis only)
    the share of each scene condition in the pool and in the picks.

    Attributes:
        dataset: the dataset yaml's path.
        pool: the scored pool (a folder or the yaml's ``pool`` split).
        n_pool: how many pool images were scored.
        n_skipped: how many pool images the scoring skipped.
        budget: K, what each arm may spend on labels, in ``budget_unit``.
        seeds: the training seeds, one run of every arm per seed.
        config: the settings used: ``recipe`` (the training recipe as a dict), ``budget``,
            ``n_seeds``, ``control`` (whether the control arm ran), ``conf_threshold``,
            ``strategies`` (arm -> the strategy that picked its images) and (when not in
            images) ``budget_unit``, ``seconds_per_image``, ``seconds_per_box``.
        start: in words, where the seed model came from.
        seed_weights: the seed model's checkpoint path.
        n_seed_images: how many labeled images the seed model was trained on.
        seed_test, picks, overlap, condition_mix: see above.
        n_empty_picks: how many bottom-K picks have no box at or above the confidence
            threshold.
        bottom_scores: the bottom-K picks' scores (``least_confidence_max``; higher = less
            confident), in pick order.
        arms: every :class:`ArmResult`, by seed then arm.
        verdict: the seed's question in plain words, bottom-K against random-K (see
            :func:`verdict`); empty until set.
        seconds: wall time of the whole experiment, in seconds.
        out_dir: the folder of the report, its plot and the scores.
        scores_path: the saved pool scores (``scores.npz``).
        budget_unit: ``"images"``, ``"boxes"`` (the model's predicted boxes) or ``"cost"``
            (annotation seconds of the cost model, :mod:`alkit.core.cost`).
        default_strategy: the strategy of the default arm (alkit's default,
            :data:`alkit.core.strategy.DEFAULT`, when the run began); ``""`` without one.
        default_verdict: alkit's answer, the default arm against random-K by the same rule
            as ``verdict``; empty until set or without a default arm.
        caveat: what every verdict leaves out (a shared seed model's own training noise).
        overlap_default: per seed ``[shared with bottom-K, shared with random-K]`` of the
            default arm's picks.
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
    default_strategy: str = ""
    default_verdict: str = ""
    caveat: str = ""
    overlap_default: list[list[int]] = field(default_factory=list)

    @property
    def k(self) -> str:
        """K as written in the arms' names (:func:`budget_label`)."""
        return budget_label(self.budget, self.budget_unit)

    def label(self, arm: str) -> str:
        """An arm's name in the printout and the plot: ``bottom-200``, ``random-200``,
        ``calibrated-200`` (the default arm, by its strategy) or ``seed only``."""
        if arm == "control":
            return "seed only"
        return f"{self.default_strategy if arm == 'default' else arm}-{self.k}"

    def new_images(self, arm: str) -> float:
        """Mean images an arm labeled over the seeds (K itself for budgets in images)."""
        return float(np.mean([r.n_new_labels for r in self.arms if r.arm == arm]))

    def summary(self) -> dict[str, ArmSummary]:
        """Per arm that ran (of :data:`ARMS`, in that order), its :class:`ArmSummary`."""
        names = [a for a in ARMS if any(r.arm == a for r in self.arms)]
        return {a: summarize_arm([r for r in self.arms if r.arm == a]) for a in names}

    def bought(self) -> dict[str, dict[str, float]]:
        """Per arm, the labels it bought, mean over seeds: ``images``, ``boxes`` and
        ``hours`` (annotator hours by the cost model of the config:
        ``(seconds_per_image * images + seconds_per_box * boxes) / 3600``)."""
        model = self.cost_model()
        return {a: {"images": s.n_new_images_mean, "boxes": s.n_new_objects_mean,
                    "hours": model.total(s.n_new_images_mean, s.n_new_objects_mean) / 3600}
                for a, s in self.summary().items()}

    def cost_model(self) -> CostModel:
        """The :class:`alkit.core.cost.CostModel` that priced the budget and the hours."""
        return CostModel(self.config.get("seconds_per_image", CostModel.seconds_per_image),
                         self.config.get("seconds_per_box", CostModel.seconds_per_box))

    def differences(self, arm: str = "bottom") -> np.ndarray:
        """(n_seeds,) ``arm``'s test mAP50 minus random-K's, paired by seed (default: the
        seed's question, bottom-K minus random-K)."""
        return np.array([self._map50(arm, s) - self._map50("random", s) for s in self.seeds])

    def _map50(self, arm: str, seed: int) -> float:
        return next(r.map50 for r in self.arms if r.arm == arm and r.seed == seed)

    def _has(self, arm: str) -> bool:
        return any(r.arm == arm for r in self.arms)

    def to_dict(self) -> dict:
        """Plain JSON-able dict: the fields, ``summary`` (arm -> :class:`ArmSummary`),
        ``bought`` (:meth:`bought`), ``differences`` (bottom - random per seed) and, with a
        default arm, ``default_differences`` (default - random per seed)."""
        data = asdict(self)
        data["summary"] = {k: asdict(v) for k, v in self.summary().items()}
        data["bought"] = self.bought()
        data["differences"] = self.differences().tolist()
        if self._has("default"):
            data["default_differences"] = self.differences("default").tolist()
        return data

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``starter_report.json`` into ``directory`` (atomic); returns its path."""
        return files.write_json(Path(directory) / REPORT_FILE, self.to_dict())

    def plot(self):
        """The comparison figure (mAP50 per arm and seed, AP50 per class); under each arm its
        mean ± sample sd and the images, boxes and hours it bought. Returns it."""
        from alkit.viz import plots

        summary, bought = self.summary(), self.bought()
        per_arm = {self.label(a): [r for r in self.arms if r.arm == a] for a in summary}
        n_ways = sum(a != "control" for a in summary)
        figure = plots.plot_arm_comparison(
            {k: [r.map50 for r in v] for k, v in per_arm.items()},
            {k: [r.ap50_per_class for r in v] for k, v in per_arm.items()},
            baseline=self.seed_test["map50"], baseline_per_class=self.seed_test["ap50_per_class"],
            title=f"{budget_words(self.budget, self.budget_unit)} of labels chosen {n_ways} "
                  f"ways ({_plural(len(self.seeds), 'seed')}; under each arm: test mAP50 "
                  "mean ± sample sd, the labels it bought)")
        left = figure.axes[0]
        left.set_xticks(range(len(summary)), [
            f"{self.label(a)}\n{_mean_sd(s)}\n{bought[a]['images']:.0f} images\n"
            f"{bought[a]['boxes']:.0f} boxes\n{bought[a]['hours']:.1f} h"
            for a, s in summary.items()], fontsize=7)
        figure.set_size_inches(13, 5)
        figure.tight_layout()
        return figure

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
        {c: float(np.nanmax(v)) for c, v in ap.items()},
        float(map50.std(ddof=1)) if len(map50) > 1 else None,
        float(np.mean([r.n_new_labels for r in results])),
        float(np.mean([r.n_new_objects for r in results])))


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


#: What the bottom arm picks, in the verdict's words.
LEAST_CONFIDENT = "the least confident images"


def verdict(bottom_map50, random_map50, *, budget: int | str, name: str = "bottom",
            picks: str = LEAST_CONFIDENT) -> str:
    """A plain-words verdict from paired per-seed test mAP50 of an arm and random-K.

    The difference of each seed (arm - random) is compared with the seed-to-seed spread
    (the larger of the two arms' max - min over seeds). It only says "beat" when every seed
    agrees on the sign and the mean difference exceeds that spread; otherwise it says the
    difference is within the noise, and when the seeds disagree on the sign it names no
    winner. One seed gives no spread, so no verdict beyond the number. This is a rule of
    thumb for a handful of seeds, not a significance test.

    Args:
        bottom_map50: (n_seeds,) test mAP50 of the arm (the bottom-K arm for the seed's
            question, or the default strategy's arm for alkit's answer), one per seed.
        random_map50: (n_seeds,) test mAP50 of the random-K arm, same seed order.
        budget: K, the number of labels each arm got, or its label (:func:`budget_label`;
            named in the sentence).
        name: the arm's name before ``-K`` (``bottom``, or the default strategy's name).
        picks: what the arm labels, in words (for the lesson).

    Returns:
        A sentence or a few. Arrays of different or zero length raise ``ValueError``.
    """
    bottom = np.asarray(bottom_map50, dtype=np.float64)
    rand = np.asarray(random_map50, dtype=np.float64)
    if bottom.shape != rand.shape or bottom.ndim != 1 or len(bottom) == 0:
        raise ValueError("verdict needs two equal-length, non-empty (n_seeds,) arrays")
    k, diff = budget, bottom - rand
    arm = f"{name}-{k}"
    mean = float(diff.mean())
    if np.all(np.abs(diff) < 0.0005):
        return (f"{arm} and random-{k} scored the same test mAP50 (within 0.0005) in "
                f"every seed: no difference.")
    if len(diff) == 1:
        return (f"With one seed, {arm} scored {mean:+.3f} mAP50 against random-{k}; a "
                "single run cannot tell that apart from training noise. Run more seeds "
                "(--seeds / n_seeds) before drawing a conclusion.")
    spread = float(max(np.ptp(bottom), np.ptp(rand)))
    n = len(diff)
    if np.all(diff > 0) or np.all(diff < 0):
        winner, loser = (arm, f"random-{k}") if mean > 0 else (f"random-{k}", arm)
        if abs(mean) > spread:
            return (f"{winner} beat {loser} in all {n} seeds, by {abs(mean):.3f} mAP50 on "
                    f"average, more than the seed-to-seed spread ({spread:.3f}). On this pool "
                    f"and recipe, {_lesson(mean > 0, picks)} ({n} seeds; not a significance "
                    "test).")
        return (f"{winner} was ahead in all {n} seeds, by {abs(mean):.3f} mAP50 on average, but "
                f"that is within the seed-to-seed spread ({spread:.3f}): suggestive, not "
                "conclusive. More seeds or a larger pool would tell.")
    return (f"No clear winner: the difference ({name} - random) changes sign across the {n} "
            f"seeds ({', '.join(f'{d:+.3f}' for d in diff)}; mean {mean:+.3f}) against a "
            f"seed-to-seed spread of {spread:.3f}. On this pool and recipe, choosing {picks} "
            "made no difference that the numbers can show.")


def default_picks(strategy: str) -> str:
    """What the default arm labels, in the verdict's words (``picks`` of :func:`verdict`):
    the images that alkit's default strategy, named ``strategy``, picks."""
    return f"the images alkit's default strategy ({strategy}) picks"


def _mean_or_none(values: list) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def _mean_sd(s: ArmSummary) -> str:
    """``0.512 ± 0.010`` (mean ± sample sd), or the mean alone for one seed."""
    return f"{s.map50_mean:.3f}" + ("" if s.map50_sd is None else f" ± {s.map50_sd:.3f}")


def _lesson(won: bool, picks: str) -> str:
    if won:
        return f"labeling {picks} paid off more than labeling at random"
    return f"a random sample was worth more than {picks}"


# --------------------------------------------------------------------------- the printout


def format_report(report: StarterReport) -> str:
    """The comparison as printed at the end of ``alkit starter`` / ``make demo``: the lines
    of ``report`` (a :class:`StarterReport` with its verdicts set), joined by newlines."""
    k, summary = report.k, report.summary()
    title = f"alkit starter: bottom-{k} vs random-{k}"
    if "default" in summary:
        title += f" vs {report.label('default')} (alkit's default)"
    lines = ["", title, *_setup_lines(report), "", *_table_lines(report, summary)]
    lines += _control_lines(report, summary)
    lines += ["", *_class_lines(report, summary)]
    lines += _condition_lines(report)
    lines += ["", *_wrap(f"verdict, the seed's question (bottom-{k} vs random-{k}): "
                         + report.verdict, "  ")]
    if report.default_verdict:
        lines += ["", *_wrap(f"alkit's answer ({report.label('default')}, its default "
                             f"strategy, vs random-{k}): " + report.default_verdict, "  ")]
    if report.caveat:
        lines += ["", *_wrap(report.caveat, "  ")]
    lines += ["", f"  report: {Path(report.out_dir) / REPORT_FILE}",
              f"  plot:   {Path(report.out_dir) / PLOT_FILE}",
              f"  {report.seconds:.0f} s in all"
              + (f" ({sum(a.cached for a in report.arms)} arms from the cache)"
                 if any(a.cached for a in report.arms) else "")]
    return "\n".join(line.rstrip() for line in lines)


def _table_lines(r: StarterReport, summary: dict) -> list[str]:
    """The arms side by side: test mAP50 mean ± sample sd and range over the seeds, gain per
    100 labels, and the images, boxes and annotator hours each bought (mean over seeds)."""
    width = max(16, *(len(r.label(a)) for a in summary), len("bottom - random"),
                len(f"{r.default_strategy} - random"))
    bought = r.bought()

    def row(name, map50="", span="", gain="", labels=("", "", "")):
        return (f"  {name:<{width}} {map50:<17} {span:>13} {gain:>10} {labels[0]:>7} "
                f"{labels[1]:>6} {labels[2]:>6}")

    lines = [f"  {'':<{width}} {'test mAP50':<17} {'test mAP50':>13} {'gain per':>10} "
             f"{'labels bought (mean)':>21}",
             row("", "mean ± sample sd", "min - max", "100 labels", ("images", "boxes", "hours")),
             row("seed model", f"{r.seed_test['map50']:.3f}")]
    for arm, s in summary.items():
        b = bought[arm]
        lines.append(row(r.label(arm), _mean_sd(s), f"{s.map50_min:.3f} - {s.map50_max:.3f}",
                         "" if s.gain_per_100_mean is None else f"{s.gain_per_100_mean:+.3f}",
                         (f"{b['images']:.0f}", f"{b['boxes']:.0f}", f"{b['hours']:.1f}")))
    for arm in ("bottom", "default"):
        if arm in summary:
            diff = r.differences(arm)
            spread = f" ± {diff.std(ddof=1):.3f}" if len(diff) > 1 else ""
            name = "bottom" if arm == "bottom" else r.default_strategy
            lines.append(f"  {name + ' - random':<{width}} {diff.mean():+.3f}{spread}  per seed: "
                         + ", ".join(f"{d:+.3f}" for d in diff))
    return lines + _wrap(f"labels bought: mean over the seeds; hours at {r.cost_model().describe()}"
                         " (the cost model).", "  ", subsequent="    ")


def _setup_lines(r: StarterReport) -> list[str]:
    c, k = r.config, r.k
    text = [
        f"seed model: {r.start} ({r.n_seed_images} labeled images).",
        f"pool: {r.n_pool} images scored ({r.n_skipped} skipped); bottom-{k} = the {k} whose "
        f"weakest box is least confident ({r.n_empty_picks} of them with no box >= "
        f"{c['conf_threshold']}, which counts as least confident); random-{k} = {k} drawn at "
        "random for each seed"
        + (f"; {r.label('default')} = the {k} that alkit's default strategy "
           f"({r.default_strategy}) picks for each seed." if r._has("default") else "."),
        _share_line(r),
        f"each arm: the seed images + {_new_words(r)}, retrained from the seed model, "
        f"{_plural(c['recipe']['epochs'], 'epoch')} at {c['recipe']['imgsz']} px; seeds "
        f"{', '.join(map(str, r.seeds))}.",
    ]
    return [line for t in text for line in _wrap(t, "  ", subsequent="    ")]


def _share_line(r: StarterReport) -> str:
    """How big K is against the pool, and how many picks the arms share."""
    shared = f"bottom and random share {float(np.mean(r.overlap)):.0f} images on average"
    if r.overlap_default:
        with_bottom, with_random = np.mean(r.overlap_default, axis=0)
        shared += (f", {r.default_strategy} shares {with_bottom:.0f} with bottom and "
                   f"{with_random:.0f} with random")
    shared += "."
    if r.budget_unit == "images":
        return f"K = {r.k} is {r.budget / r.n_pool:.0%} of the pool: {shared}"
    unit = ("boxes as the model predicts them" if r.budget_unit == "boxes" else
            "annotation time, priced with the model's expected boxes")
    arms = [a for a in ARMS[:3] if r._has(a)]
    bought = ", ".join(f"{r.label(a)} {r.new_images(a):.0f}" for a in arms)
    return (f"K = {budget_words(r.budget, r.budget_unit)} per arm ({unit}): the arms bought "
            f"{bought} images on average ({r.new_images('random') / r.n_pool:.0%} of the pool "
            f"for random); {shared}")


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
    arms = [a for a in summary if a != "control"]
    gains = ", ".join(f"{r.label(a)} {summary[a].map50_mean - seed:+.3f}" for a in arms)
    beyond = ", ".join(
        f"{r.label(a)} {100 * (summary[a].map50_mean - control) / r.new_images(a):+.3f}"
        for a in arms)
    text = (f"seed only (the same retraining without new labels) reaches {control:.3f}: of the "
            f"gains over the seed model ({gains}), {control - seed:+.3f} comes from the extra "
            f"epochs alone; per 100 labels beyond that: {beyond}.")
    return ["", *_wrap(text, "  ", subsequent="    ")]


def _class_lines(r: StarterReport, summary: dict) -> list[str]:
    widths = {a: max(11, len(r.label(a))) for a in summary}
    header = f"  {'test AP50':<14} {'seed':>6}" + "".join(
        f" {r.label(a):>{widths[a]}}" for a in summary)
    lines = [header]
    for cls, seed_ap in r.seed_test["ap50_per_class"].items():
        lines.append(f"    {cls:<12} {seed_ap:>6.2f}" + "".join(
            f" {s.ap50_mean.get(cls, float('nan')):>{widths[a]}.2f}"
            for a, s in summary.items()))
    return lines


def _condition_lines(r: StarterReport) -> list[str]:
    if not r.condition_mix:
        return []
    mix = r.condition_mix
    groups = [g for g in ("bottom", "random", "default") if g in mix]
    widths = {g: max(11, len(r.label(g))) for g in groups}
    lines = ["", "  share of each scene condition (generator metadata, analysis only):",
             f"  {'':<14} {'pool':>6}" + "".join(f" {r.label(g):>{widths[g]}}" for g in groups)]
    for c in mix["pool"]:
        lines.append(f"    {c:<12} {mix['pool'][c]:>6.0%}" + "".join(
            f" {mix[g][c]:>{widths[g]}.0%}" for g in groups))
    return lines


def _wrap(text: str, indent: str, width: int = 96, subsequent: str | None = None) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent,
                         subsequent_indent=indent if subsequent is None else subsequent)
