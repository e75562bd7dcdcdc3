"""The starter experiment: are the model's least confident images worth more labels than a
random sample? (``alkit starter``, ``make demo``, notebook 06.)

Steps:

1. **Data.** The sample benchmark of a preset (built once, reused), or your dataset yaml
   (``train`` = the labeled seed set, ``val``, ``test``) with a pool folder (``pool=`` or the
   yaml's ``pool`` key). A test split is required: it is the fixed yardstick.
2. **Seed model.** Your checkpoint when it already knows the dataset's classes (used as is),
   else the start weights (default: the optional pretrained start, see README) fine-tuned on
   the seed split for ``seed_epochs``. A random-init model's confidences carry little signal.
3. **Score** the pool once with the seed model (:func:`alkit.score_pool`, cached).
4. **Pick** the K least confident images: per image the weakest box, i.e. the minimum
   detection confidence over boxes at or above ``conf_threshold`` (the score table's
   ``least_confidence_max`` = 1 - that minimum). **An image with no box at or above the
   threshold counts as maximally uncertain** (score 1.0, picked first), the convention of
   :mod:`alkit.uncertainty` and of the flag rule: the model found nothing it believes in, which
   is a reason to look. Ties (several empty images) keep pool order. Separately, K random
   images per seed (``random_state`` + seed index).
5. **Label** both sets: the simulated annotator (:class:`alkit.oracle.Oracle`, the benchmark's
   hidden labels) or your label files (``labels=``, one YOLO ``.txt`` per pool image, named
   like the image relative to the pool folder). Images without a label file are listed in
   ``<out>/to_label.txt`` and the run stops; label them and run again (finished work is kept).
6. **Retrain** each arm on seed + K labeled images, **from the seed model**, with the same
   recipe (``epochs``, ``imgsz``, ``batch``) and the same training seed for both arms. Why the
   seed model and not the pretrained start: it is what the next round of a real project does
   (alkit round warm-starts the same way), and it costs a few epochs instead of a full
   training, which is what makes several seeds affordable on a CPU. Both arms start from the
   identical checkpoint, so the only difference between them is which K images got labels.
   Their gain over the seed model also contains what the extra epochs alone would give;
   ``control=True`` trains a third arm on the seed images only with the same recipe to
   measure that.
7. **Evaluate** on the test split (:func:`alkit.yolo.evaluate`): mAP50, per-class AP50, gain
   per 100 labels (``100 * (mAP50 - seed mAP50) / K``), and a verdict that compares the
   bottom-K minus random-K difference of each seed with the seed-to-seed spread and never
   claims more than that.

Repeated over ``n_seeds`` seeds: the random picks and the training seed change per seed; the
bottom-K picks do not (one seed model, one ranking). Every trained arm is cached under
``<out>/arms/`` by its configuration (seed model, picked images and their labels, recipe,
seed): an interrupted run continues where it stopped, and a finished one reprints its report
without training. Results: ``<out>/starter_report.json`` and ``<out>/starter.png``.

On the small preset (pool of 400) K = 200 is half the pool, so the two arms share about half
their images: that narrows any difference, and the report says how many they share.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from alkit.core import selection
from alkit.data import datasets, samples
from alkit.data.datasets import DatasetError, Labels

ARMS = ("bottom", "random")
REPORT_FILE = "starter_report.json"
PLOT_FILE = "starter.png"


@dataclass(frozen=True)
class StarterConfig:
    """Sizes and recipe of the experiment.

    Attributes:
        budget: K, images labeled per arm.
        n_seeds: repetitions (random picks and training seed change per seed).
        seed_epochs: epochs that fine-tune the start weights on the seed split (weights that
            already know the dataset's classes are used as they are).
        epochs: epochs of each arm's retraining from the seed model.
        imgsz, batch, workers: training and inference settings.
        conf_threshold: boxes at or above it count when finding an image's weakest box.
        control: also retrain on the seed images alone (no new labels), same recipe.
    """

    budget: int = 200
    n_seeds: int = 3
    seed_epochs: int = 30
    epochs: int = 5
    imgsz: int = 128
    batch: int = 16
    workers: int = 2
    conf_threshold: float = 0.25
    control: bool = False

    def __post_init__(self):
        for name in ("budget", "n_seeds", "epochs", "imgsz", "batch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.seed_epochs < 0 or self.workers < 0:
            raise ValueError("seed_epochs and workers must be >= 0")
        if not 0.0 <= self.conf_threshold <= 1.0:
            raise ValueError(f"conf_threshold must lie in [0, 1], got {self.conf_threshold}")


# Sizes per sample preset. small is `make demo`: about 4 minutes on a quiet 2-core CPU. The
# control arm (seed images only) is cheap and says how much of a gain is the extra epochs.
STARTER_PRESETS = {
    "tiny": StarterConfig(budget=20, n_seeds=1, seed_epochs=2, epochs=1, imgsz=64, batch=8,
                          workers=0),
    "small": StarterConfig(control=True),
    "full": StarterConfig(epochs=10, control=True),
}


def starter_config(preset: str = "small", **overrides) -> StarterConfig:
    """The preset's :class:`StarterConfig` with ``overrides`` (field names) applied."""
    if preset not in STARTER_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(STARTER_PRESETS)}")
    known = {f.name for f in fields(StarterConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown starter setting(s) {unknown}; expected some of {sorted(known)}")
    return replace(STARTER_PRESETS[preset], **overrides)


# --------------------------------------------------------------------------- annotators


class MissingLabelError(DatasetError):
    """A picked pool image has no label file (yet)."""


class FolderAnnotator:
    """Real labels: one YOLO label file per pool image in ``labels_dir``, named like the image
    relative to the pool folder (``pool/a/b.jpg`` -> ``labels_dir/a/b.txt``); for a pool given
    as a list file, by the image's stem. An empty file means an image without objects."""

    def __init__(self, labels_dir: str | os.PathLike, pool_root: str | os.PathLike,
                 n_classes: int):
        self.labels_dir = Path(labels_dir)
        if not self.labels_dir.is_dir():
            raise DatasetError(self.labels_dir, "labels folder not found")
        self.pool_root = Path(pool_root)
        self.n_classes = n_classes

    def label_path(self, image: str | os.PathLike) -> Path:
        """Where the label file of a pool image is expected."""
        image = Path(image)
        try:
            relative = image.relative_to(self.pool_root)
        except ValueError:
            relative = Path(image.name)
        return self.labels_dir / relative.with_suffix(".txt")

    def answer(self, image: str | os.PathLike) -> Labels:
        """The labels of a pool image; :class:`MissingLabelError` when its file is absent."""
        path = self.label_path(image)
        if not path.is_file():
            raise MissingLabelError(path, f"no label file for {Path(image).name}")
        return datasets.read_labels(path, self.n_classes)


# --------------------------------------------------------------------------- results


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
    class the mean, min and max AP50."""

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
    """

    dataset: str
    pool: str
    n_pool: int
    n_skipped: int
    budget: int
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
        text = json.dumps(self.to_dict(), indent=2, default=float) + "\n"
        return datasets.write_text_atomic(Path(directory) / REPORT_FILE, text)

    def plot(self):
        """The comparison figure (mAP50 per arm and seed, AP50 per class); returns it."""
        from alkit.viz import plots

        label = {"bottom": f"bottom-{self.budget}", "random": f"random-{self.budget}",
                 "control": "seed only"}
        per_arm = {label[a]: [r for r in self.arms if r.arm == a] for a in self.summary()}
        return plots.plot_arm_comparison(
            {k: [r.map50 for r in v] for k, v in per_arm.items()},
            {k: [r.ap50_per_class for r in v] for k, v in per_arm.items()},
            baseline=self.seed_test["map50"], baseline_per_class=self.seed_test["ap50_per_class"],
            title=f"{self.budget} labels chosen two ways ({len(self.seeds)} seed"
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


def verdict(bottom_map50, random_map50, *, budget: int) -> str:
    """A plain-words verdict from paired per-seed test mAP50 of the two arms.

    The difference of each seed (bottom - random) is compared with the seed-to-seed spread
    (the larger of the two arms' max - min over seeds). It only says "beat" when every seed
    agrees on the sign and the mean difference exceeds that spread; otherwise it says the
    difference is within the noise. One seed gives no spread, so no verdict beyond the number.
    This is a rule of thumb for a handful of seeds, not a significance test.
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


# --------------------------------------------------------------------------- the experiment


@dataclass
class _Setup:
    spec: datasets.DatasetSpec
    pool_root: Path
    pool_images: list[Path]
    annotator: object
    seed_split: list[tuple[Path, Labels]]
    samples_root: Path | None


def run_starter(
    data: str | os.PathLike | None = None,
    *,
    pool: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    preset: str = "small",
    out: str | os.PathLike | None = None,
    workdir: str | os.PathLike = "data_samples/generated",
    random_state: int = 0,
    annotator=None,
    progress: bool = True,
    echo=print,
    **overrides,
) -> StarterReport:
    """Run the starter experiment (see the module docstring); returns its report.

    Args:
        data: your dataset yaml (train = seed set, val, test; names); ``None``: the sample
            benchmark of ``preset``, built in ``workdir/<preset>``.
        pool: the pool's image folder or list file (default: the yaml's ``pool``).
        weights: your seed model (a checkpoint with the dataset's classes: used as is) or
            start weights to fine-tune for ``seed_epochs`` (default: the optional pretrained
            start, else ``yolov8n.yaml``).
        labels: a folder of YOLO label files for the pool (default: the dataset's hidden
            ``oracle_labels``, through the simulated annotator).
        preset: sizes (:data:`STARTER_PRESETS`) and, without ``data``, the sample benchmark.
        out: results folder (default ``workdir/starter-<preset>``; for your own data
            ``starter-<yaml stem>`` in the current directory).
        random_state: base seed of the repetitions: seed i draws its random picks and trains
            with ``random_state + i`` (the sample benchmark itself is always seed 0).
        annotator: anything with ``answer(image_path) -> Labels``; overrides ``labels``.
        overrides: :class:`StarterConfig` fields (budget, n_seeds, epochs, seed_epochs, imgsz,
            batch, workers, conf_threshold, control).
    """
    started = time.perf_counter()
    config = starter_config(preset, **overrides)
    setup = _prepare(data, pool, labels, annotator, preset, Path(workdir), config, echo)
    out = Path(out) if out is not None else (
        Path(workdir) / f"starter-{preset}" if data is None else Path(f"starter-{Path(data).stem}"))
    out.mkdir(parents=True, exist_ok=True)
    seeds = [random_state + i for i in range(config.n_seeds)]
    with _quiet_ultralytics():
        report = _experiment(setup, weights, config, seeds, out, progress, echo)
    report.seconds = time.perf_counter() - started
    report.save(out)
    figure = report.plot()
    figure.savefig(out / PLOT_FILE, dpi=120, bbox_inches="tight")
    _close(figure)
    echo(report.format())
    return report


def _experiment(setup: _Setup, weights, config: StarterConfig, seeds: list[int], out: Path,
                progress: bool, echo) -> StarterReport:
    seed = _seed_model(setup, weights, config, out, echo)
    config = replace(config, seed_epochs=seed["epochs"])
    scores = _score(setup, seed["weights"], config, out, progress, echo)
    picks = _picks(scores, config, seeds)
    answers = _collect_labels(setup.annotator, scores, picks, out, echo)
    jobs = _jobs(picks, config, seeds)
    echo(f"5/5 retraining {len(jobs)} arms from the seed model "
         f"({_plural(config.epochs, 'epoch')} at {config.imgsz} px each)")
    arms = [_train_arm(i, len(jobs), job, setup, seed, scores, answers, config, out, echo)
            for i, job in enumerate(jobs, 1)]
    bottom = picks["bottom"]
    report = StarterReport(
        dataset=str(setup.spec.yaml_path), pool=str(setup.pool_root), n_pool=len(scores),
        n_skipped=len(scores.skipped), budget=config.budget, seeds=seeds, config=asdict(config),
        start=seed["start"], seed_weights=seed["weights"], n_seed_images=len(setup.seed_split),
        seed_test=seed["test"], n_empty_picks=int((scores.n_boxes[bottom] == 0).sum()),
        overlap=[len(set(bottom) & set(picks[f"random-s{s}"])) for s in seeds],
        picks={k: [scores.paths[i] for i in v] for k, v in picks.items()},
        bottom_scores=[float(x) for x in _least_confidence(scores)[bottom]], arms=arms,
        condition_mix=_condition_mix(setup, scores, picks), out_dir=str(out),
        scores_path=str(scores.save(out / "scores.npz")))
    report.verdict = verdict([report._map50("bottom", s) for s in seeds],
                             [report._map50("random", s) for s in seeds], budget=config.budget)
    return report


# ---- 1. data


def _prepare(data, pool, labels, annotator, preset: str, workdir: Path, config: StarterConfig,
             echo) -> _Setup:
    from alkit.data import validation

    samples_root = None
    if data is None:
        samples_root = _sample_benchmark(preset, workdir / preset, echo)
        data = samples_root / "dataset.yaml"
    else:
        echo(f"1/5 dataset {data}")
    spec = datasets.read_dataset_yaml(data)
    if "test" not in spec.splits:
        raise DatasetError(spec.yaml_path, "the starter needs a 'test' split (the fixed "
                           "yardstick both arms are measured on); add test: to the yaml")
    pool_root = Path(pool) if pool is not None else spec.splits.get("pool")
    if pool_root is None:
        raise DatasetError(spec.yaml_path, "no pool: give pool= (--pool DIR) or a 'pool' key "
                           "in the yaml (the unlabeled images to choose from)")
    pool_images = datasets.list_images(pool_root)
    _check_budget(config.budget, len(pool_images), pool_root)
    report = validation.validate_dataset(spec.yaml_path, check_duplicates=False, progress=False)
    if report.fatal:
        raise DatasetError(spec.yaml_path, "fix the dataset first:\n"
                           + report.format(max_problems=20))
    annotator = annotator or _annotator(spec, labels, pool_root, data)
    seed_split = datasets.read_split(spec, "train")
    echo(f"    {len(seed_split)} labeled seed images, {len(pool_images)} pool images, "
         f"K = {config.budget} ({config.budget / len(pool_images):.0%} of the pool)")
    return _Setup(spec, pool_root, pool_images, annotator, seed_split, samples_root)


def _sample_benchmark(preset: str, root: Path, echo, random_state: int = 0) -> Path:
    """The preset's sample benchmark (the standard one, seed 0, shared with the notebooks),
    built unless an identical build is already there."""
    marker = root / samples.MARKER_FILE
    if marker.is_file():
        found = json.loads(marker.read_text())
        if (found.get("preset"), found.get("seed"), found.get("generator_version")) == (
                preset, random_state, samples.GENERATOR_VERSION):
            echo(f"1/5 the '{preset}' sample benchmark in {root} (already built)")
            return root
    echo(f"1/5 building the '{preset}' sample benchmark in {root}")
    return samples.build_samples(preset, root, random_state=random_state, progress=False).out


def _check_budget(budget: int, n_pool: int, pool_root) -> None:
    if budget >= n_pool:
        raise ValueError(f"K = {budget} images per arm, but the pool ({pool_root}) has "
                         f"{n_pool}: K must be smaller than the pool, or both arms label the "
                         "same images")


def _annotator(spec, labels, pool_root: Path, data):
    if labels is not None:
        return FolderAnnotator(labels, pool_root, spec.n_classes)
    if spec.oracle_labels is not None:
        from alkit.annotate.simulated import Oracle

        return Oracle(data)
    raise DatasetError(spec.yaml_path, "no labels for the pool: give labels= (--labels DIR, "
                       "one YOLO .txt per pool image) or a benchmark yaml with oracle_labels")


def _describe(annotator) -> str:
    if isinstance(annotator, FolderAnnotator):
        return f"your label files in {annotator.labels_dir}"
    if type(annotator).__name__ == "Oracle":
        return "the simulated annotator (the benchmark's hidden labels)"
    return type(annotator).__name__


# ---- 2. seed model


def _seed_model(setup: _Setup, weights, config: StarterConfig, out: Path, echo) -> dict:
    """Weights that know the dataset's classes are the seed model as they are; any other
    start is fine-tuned on the seed split for ``seed_epochs``."""
    from alkit.model import yolo

    start = str(weights) if weights is not None else yolo.default_start_weights()
    if weights is not None and _knows_classes(start, setup.spec):
        return _evaluated_seed(start, setup, config, out, echo)
    if config.seed_epochs == 0:
        raise ValueError(f"{start}: its classes are not the dataset's {setup.spec.names}, so "
                         "it is no seed model; give seed_epochs > 0 (--seed-epochs) to "
                         "fine-tune it on the seed split first")
    return _trained_seed(start, config.seed_epochs, setup, config, out, echo)


def _knows_classes(weights: str, spec) -> bool:
    from alkit.model import yolo

    if not weights.endswith(".pt"):
        return False
    names = yolo.load_model(weights).names
    return tuple(names[i] for i in sorted(names)) == tuple(spec.names)


def _evaluated_seed(start: str, setup: _Setup, config: StarterConfig, out: Path, echo) -> dict:
    from alkit.model import yolo

    key = _key(yolo.weights_hash(start), str(setup.spec.yaml_path), config.imgsz)
    path = out / "seed" / f"eval-{key}.json"
    echo(f"2/5 seed model: {start} (knows the dataset's classes; used as is)")
    found = _read_json(path)
    if found is None:
        test = yolo.evaluate(start, setup.spec.yaml_path, split="test", imgsz=config.imgsz,
                             batch=config.batch, runs_dir=out / "runs")
        found = {"weights": str(Path(start).resolve()), "epochs": 0, "seconds": 0.0,
                 "start": f"your checkpoint {Path(start).name}, used as the seed model",
                 "test": _metrics(test)}
        _write_json(path, found)
    echo(f"    test mAP50 {found['test']['map50']:.3f}")
    return found


def _trained_seed(start: str, epochs: int, setup: _Setup, config: StarterConfig, out: Path,
                  echo) -> dict:
    from alkit.model import yolo

    key = _key(yolo.weights_hash(start), _split_digest(setup.seed_split),
               str(setup.spec.splits["val"]), epochs, config.imgsz, config.batch,
               config.workers)
    directory = out / "seed" / key
    found = _read_json(directory / "result.json")
    if found is not None:
        echo(f"2/5 seed model: cached ({found['start']}), test mAP50 "
             f"{found['test']['map50']:.3f}")
        return found
    echo(f"2/5 seed model: fine-tuning {_start_name(start)} on {len(setup.seed_split)} seed "
         f"images, {epochs} epochs at {config.imgsz} px")
    if not start.endswith(".pt"):
        echo("    note: a model yaml starts from random weights; its confidences carry little "
             "signal (install the pretrained start or pass your checkpoint)")
    trained = yolo.train(setup.spec.yaml_path, weights=start, epochs=epochs, imgsz=config.imgsz,
                         batch=config.batch, workers=config.workers, runs_dir=directory,
                         name="run")
    test = yolo.evaluate(trained.best, setup.spec.yaml_path, split="test", imgsz=config.imgsz,
                         batch=config.batch, runs_dir=directory)
    found = {"weights": str(trained.best.resolve()), "epochs": epochs,
             "seconds": trained.seconds, "test": _metrics(test),
             "start": f"{_start_name(start)} fine-tuned {epochs} epochs on the seed split"}
    _write_json(directory / "result.json", found)
    echo(f"    {trained.seconds:.0f} s; test mAP50 {test.map50:.3f}")
    return found


def _start_name(weights: str) -> str:
    from alkit.model import yolo

    pretrained = yolo.pretrained_checkpoint()
    if pretrained is not None and Path(weights) == pretrained:
        return "the pretrained start"
    return Path(weights).name


# ---- 3-4. scores, picks, labels


def _score(setup: _Setup, weights: str, config: StarterConfig, out: Path, progress: bool, echo):
    from alkit.model.scoring import score_pool

    echo(f"3/5 scoring {len(setup.pool_images)} pool images with the seed model")
    scores = score_pool(weights, setup.pool_images, imgsz=config.imgsz, batch=32,
                        conf_threshold=config.conf_threshold, cache_dir=out / "scores",
                        progress=progress)
    for path, reason in scores.skipped[:10]:
        echo(f"    skipped {path}: {reason}")
    if scores.skipped:
        echo(f"    {len(scores.skipped)} pool images skipped (they cannot be picked)")
    _check_budget(config.budget, len(scores), setup.pool_root)
    return scores


def _least_confidence(scores) -> np.ndarray:
    """(N,) 1 - the image's minimum box confidence (1.0 without boxes): the weakest box."""
    return scores.image_scores("least_confidence", "max")


def _picks(scores, config: StarterConfig, seeds: list[int]) -> dict[str, np.ndarray]:
    """Pool rows per arm: ``bottom`` (K least confident) and ``random-s<seed>``."""
    bottom = selection.uncertainty_selection(_least_confidence(scores), config.budget).indices
    picks = {"bottom": bottom}
    for s in seeds:
        picks[f"random-s{s}"] = selection.random_selection(len(scores), config.budget,
                                                           random_state=s).indices
    return picks


def _collect_labels(annotator, scores, picks: dict, out: Path, echo) -> dict[int, Labels]:
    """Labels of every picked row; missing files are listed in ``to_label.txt`` first."""
    rows = sorted({int(i) for v in picks.values() for i in v})
    echo(f"4/5 labels for the {len(rows)} distinct picked images: {_describe(annotator)}")
    answers, missing = {}, []
    for i in rows:
        try:
            answers[i] = annotator.answer(scores.paths[i])
        except MissingLabelError:
            missing.append(scores.paths[i])
    listing = out / "to_label.txt"
    if missing:
        datasets.write_text_atomic(listing, "".join(f"{p}\n" for p in missing))
        raise MissingLabelError(listing, f"{len(missing)} picked pool images have no label "
                                "file yet (listed here); label them and run again")
    listing.unlink(missing_ok=True)
    return answers


# ---- 5. arms


@dataclass(frozen=True)
class _Job:
    arm: str
    seed: int
    rows: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.arm}-s{self.seed}"


def _jobs(picks: dict, config: StarterConfig, seeds: list[int]) -> list[_Job]:
    jobs = []
    for s in seeds:
        jobs += [_Job("bottom", s, picks["bottom"]), _Job("random", s, picks[f"random-s{s}"])]
        if config.control:
            jobs.append(_Job("control", s, np.zeros(0, np.int64)))
    return jobs


def _train_arm(i: int, n: int, job: _Job, setup: _Setup, seed: dict, scores, answers: dict,
               config: StarterConfig, out: Path, echo) -> ArmResult:
    from alkit.model import yolo

    picked = [(scores.paths[r], scores.hashes[r], answers[int(r)]) for r in job.rows]
    key = _key(yolo.weights_hash(seed["weights"]), _split_digest(setup.seed_split),
               [(h, datasets.format_labels(lab)) for _, h, lab in picked], job.seed,
               config.epochs, config.imgsz, config.batch, config.workers,
               str(setup.spec.splits["val"]),
               str(setup.spec.splits["test"]))
    directory = out / "arms" / f"{job.name}-{key[:12]}"
    found = _read_json(directory / "result.json")
    where = f"    [{i}/{n}] {job.name}:"
    if found is not None:
        echo(f"{where} cached, test mAP50 {found['map50']:.3f}")
        return ArmResult(**{**found, "cached": True})
    data = _training_set(directory / "data", setup, picked)
    echo(f"{where} training on {len(setup.seed_split) + len(picked)} images ...")
    trained = yolo.train(data, weights=seed["weights"], epochs=config.epochs, imgsz=config.imgsz,
                         batch=config.batch, seed=job.seed, workers=config.workers,
                         runs_dir=directory, name="run")
    test = yolo.evaluate(trained.best, data, split="test", imgsz=config.imgsz,
                         batch=config.batch, runs_dir=directory)
    gain = test.map50 - seed["test"]["map50"]
    result = ArmResult(job.arm, job.seed, len(picked), int(sum(len(lab) for *_, lab in picked)),
                       test.map50, test.map50_95, dict(test.ap50_per_class), gain,
                       100 * gain / len(picked) if picked else None, trained.seconds,
                       str(trained.best.resolve()))
    _write_json(directory / "result.json", asdict(result))
    echo(f"{where} {trained.seconds:.0f} s, test mAP50 {test.map50:.3f} ({gain:+.3f})")
    return result


def _training_set(directory: Path, setup: _Setup, picked: list) -> Path:
    """A dataset yaml whose train split is the seed images plus the picked pool images, each
    linked into ``directory/images`` with its label file in ``directory/labels``."""
    entries = [(f"s{j:06d}_{p.name}", p, lab) for j, (p, lab) in enumerate(setup.seed_split)]
    entries += [(f"p{h[:12]}_{Path(p).name}", Path(p), lab) for p, h, lab in picked]
    listed = []
    for name, source, lab in entries:
        link = directory / "images" / name
        _symlink(source, link)
        datasets.write_labels(directory / "labels" / f"{Path(name).stem}.txt", lab)
        listed.append(f"{link.absolute()}\n")
    train = datasets.write_text_atomic(directory / "train.txt", "".join(listed))
    spec = setup.spec
    return datasets.write_dataset_yaml(
        directory / "dataset.yaml", spec.names,
        {"train": str(train.resolve()), "val": str(spec.splits["val"]),
         "test": str(spec.splits["test"])}, comment="alkit starter: seed split + one arm's picks")


def _symlink(source: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        link.unlink()
    link.symlink_to(source.resolve())


# ---- helpers


def _metrics(result) -> dict:
    return {"map50": result.map50, "map50_95": result.map50_95,
            "ap50_per_class": dict(result.ap50_per_class)}


def _split_digest(split: list[tuple[Path, Labels]]) -> str:
    digest = hashlib.sha256()
    for image, lab in split:
        digest.update(datasets.file_sha256(image).encode())
        digest.update(datasets.format_labels(lab).encode())
    return digest.hexdigest()


def _key(*parts) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _write_json(path: Path, data: dict) -> None:
    datasets.write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def _close(figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


@contextlib.contextmanager
def _quiet_ultralytics():
    """Ultralytics' per-epoch tables and bars off (its warnings stay); the starter prints one
    line per step instead. Its progress bars follow the logger's level. Imported first: its
    import sets the level."""
    from alkit.model import yolo

    logger = logging.getLogger(yolo.ultralytics.utils.LOGGING_NAME)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _condition_mix(setup: _Setup, scores, picks: dict) -> dict | None:
    """Share of each scene condition in the pool and the picks (sample benchmark only; the
    generator's metadata, read for analysis, never for picking)."""
    if setup.samples_root is None:
        return None
    rows = samples.read_generation_metadata(setup.samples_root)
    condition = {r["image"]: r["condition"] for r in rows if r["split"] == "pool"}
    of = [condition.get(f"images/pool/{Path(p).name}", "?") for p in scores.paths]
    randoms = np.concatenate([v for k, v in picks.items() if k.startswith("random")])
    groups = {"pool": np.arange(len(of)), "bottom": picks["bottom"], "random": randoms}
    shares = {}
    for name, members in groups.items():
        counts = Counter(of[int(i)] for i in members)
        shares[name] = {c: counts[c] / max(1, len(members)) for c in sorted(set(of))}
    return shares


# --------------------------------------------------------------------------- the printout


def format_report(report: StarterReport) -> str:
    """The comparison as printed at the end of ``alkit starter`` / ``make demo``."""
    k, summary = report.budget, report.summary()
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
    c, k = r.config, r.budget
    text = [
        f"seed model: {r.start} ({r.n_seed_images} labeled images).",
        f"pool: {r.n_pool} images scored ({r.n_skipped} skipped); bottom-{k} = the {k} whose "
        f"weakest box is least confident ({r.n_empty_picks} of them with no box >= "
        f"{c['conf_threshold']}, which counts as least confident).",
        f"K = {k} is {k / r.n_pool:.0%} of the pool: the arms share "
        f"{float(np.mean(r.overlap)):.0f} images on average.",
        f"each arm: the seed images + {k} labeled ones, retrained from the seed model, "
        f"{_plural(c['epochs'], 'epoch')} at {c['imgsz']} px; seeds "
        f"{', '.join(map(str, r.seeds))}.",
    ]
    return [line for t in text for line in _wrap(t, "  ", subsequent="    ")]


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
            f"that: bottom {100 * (bottom - control) / r.budget:+.3f}, random "
            f"{100 * (rand - control) / r.budget:+.3f}.")
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
    mix, k = r.condition_mix, r.budget
    lines = ["", "  share of each scene condition (generator metadata, analysis only):",
             f"  {'':<14} {'pool':>6} {f'bottom-{k}':>11} {f'random-{k}':>11}"]
    for c in mix["pool"]:
        lines.append(f"    {c:<12} {mix['pool'][c]:>6.0%} {mix['bottom'][c]:>11.0%} "
                     f"{mix['random'][c]:>11.0%}")
    return lines


def _wrap(text: str, indent: str, width: int = 96, subsequent: str | None = None) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, initial_indent=indent,
                         subsequent_indent=indent if subsequent is None else subsequent)
