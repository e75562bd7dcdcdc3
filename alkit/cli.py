"""The ``alkit`` command line.

Subcommands:

* ``alkit samples --samples PRESET --out DIR [--seed N]``: build the sample benchmark
  (presets: tiny, small, full, demo, longtail, defects).
* ``alkit validate DATASET_YAML [--json]``: check a dataset; exit 1 on fatal problems.
* ``alkit score MODEL SOURCE``: score a pool (boxes, class scores, embeddings, measures).
* ``alkit select SCORES --budget K [--strategy S] [--checks DATASET_YAML --model WEIGHTS]``:
  choose the next images to label (``--strategy`` names one of :data:`alkit.STRATEGIES`;
  ``--checks`` measures the class quality the default strategy reads).
* ``alkit stopping HISTORY.json``: learning-curve analysis and a stop / continue answer.
* ``alkit init PROJECT --dataset YAML``, ``alkit round PROJECT``, ``alkit status PROJECT``:
  the round loop over a project ledger (``--recipe`` names a recipe of :data:`alkit.RECIPES`,
  ``--annotator`` one of :data:`ANNOTATORS`).
* ``alkit monitor PROJECT [BATCH ...] [--budget N] [--report] [--plot FILE]``: after
  deployment, monitor batches of production images (folders or manifests) with the deployed
  model, send a budget of them to the pool, report drift over time
  (:mod:`alkit.loop.monitor`, ``docs/monitoring.md``).
* ``alkit audit PROJECT [--round N] [--top K] [--plot FILE] [--send-back N]``: audit the
  labels a round imported with ObjectLab (cleanlab) and the predictions of the model that
  did not train on them; prints the K most likely mislabeled images with their suspect boxes;
  ``--send-back N`` sends the N worst back for relabeling in the next round
  (:mod:`alkit.loop.audit`, ``docs/audit.md``).
* ``alkit starter`` (alias ``alkit demo``): the experiment behind ``make demo``: bottom-K vs
  random-K, and K picked by alkit's default strategy, on the sample benchmark (default: the
  ``starter`` preset) or your data (``--data --pool --weights --labels``).

Exit codes: 0 success, 1 the data or the run failed (message on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _samples(args) -> int:
    from alkit.data.samples import build_samples

    report = build_samples(args.samples, args.out, random_state=args.seed,
                           progress=not args.quiet)
    print(f"built '{report.preset}' (seed {report.seed}) in {report.out} in "
          f"{report.seconds:.1f} s")
    for split, n in report.n_images.items():
        print(f"  {split:<5} {n:>6} images {report.n_objects[split]:>7} objects")
    print(f"dataset yaml: {report.dataset_yaml}")
    return 0


def _validate(args) -> int:
    from alkit.data.validation import validate_dataset

    report = validate_dataset(args.dataset_yaml, check_duplicates=not args.no_duplicates,
                              progress=not args.quiet)
    print(report.to_json() if args.json else report.format(max_problems=args.max_problems))
    return 1 if report.fatal else 0


def _score(args) -> int:
    from alkit.data.datasets import read_dataset_yaml
    from alkit.data.scorefile import save_scores
    from alkit.model.scoring import score_pool

    source = args.source
    if source.suffix in (".yaml", ".yml"):
        spec = read_dataset_yaml(source)
        if "pool" not in spec.splits:
            raise ValueError(f"{source}: has no 'pool' split to score; give an image directory")
        source = spec.splits["pool"]
    scores = score_pool(args.model, source, imgsz=args.imgsz, batch=args.batch, conf=args.conf,
                        iou=args.iou, max_det=args.max_det, embed_layer=args.embed_layer,
                        conf_threshold=args.conf_threshold, device=args.device,
                        cache_dir=args.cache_dir, progress=not args.quiet,
                        **_engine_kwargs(args))
    out = save_scores(scores, args.out)
    scores.table.to_csv(out.with_suffix(".csv"), index=False)
    run = scores.meta["run"]
    print(f"scored {len(scores)} images ({run['n_inferred']} inferred, {run['n_cached']} from "
          f"the cache) in {run['seconds']:.1f} s; {run['n_skipped']} skipped")
    if run.get("engine") == "ray":
        print(f"ray ({run['address']}, {run['actors']} actors): {run['n_blocks_skipped']} of "
              f"{run['n_blocks']} block shards already finished (not recomputed); start-up "
              f"{run['startup_seconds']:.1f} s")
    for path, reason in scores.skipped[:20]:
        print(f"  skipped {path}: {reason}")
    print(f"flagged (most confident box < 0.6): {int(scores.flagged().sum())}")
    top = scores.table.nlargest(args.top, "least_confidence_max")
    print(f"most uncertain (least_confidence_max, conf >= {scores.conf_threshold}):")
    for row in top.itertuples():
        print(f"  {row.least_confidence_max:.3f}  {row.n_boxes:>3} boxes  {row.path}")
    print(f"scores: {out}  table: {out.with_suffix('.csv')}")
    return 0


def _select(args) -> int:
    import numpy as np

    from alkit.core.context import RoundContext
    from alkit.core.query import query, run_query
    from alkit.data.scorefile import load_scores

    chosen = query(args.strategy, measure=args.measure, budget=args.budget,
                   budget_unit=args.budget_unit, dedupe_threshold=args.dedupe,
                   seconds_per_image=args.seconds_per_image,
                   seconds_per_box=args.seconds_per_box)
    if chosen.strategy.committee_members:
        raise ValueError("the committee trains models every round: use `alkit round "
                         "--strategy committee` (alkit select works on saved scores)")
    scores = load_scores(args.scores)
    chosen = _with_conf(chosen, scores.conf_threshold)
    labeled = None
    if args.labeled:
        names = {line.strip() for line in args.labeled.read_text().splitlines() if line.strip()}
        labeled = np.array([p in names for p in scores.paths])
    measured = _checks(args, scores) if args.checks else {}
    context = RoundContext.of(scores, labeled=labeled, cost_model=chosen.cost_model, **measured)
    selection = run_query(chosen, scores, context, random_state=args.seed)
    table = selection.table(scores.paths)
    table.to_csv(args.out, index=False)
    print(f"{chosen.strategy.name}: picked {len(selection)} images (budget {chosen.budget:g} "
          f"{chosen.budget_unit}); written to {args.out}")
    for row in table.head(args.show).itertuples():
        print(f"  #{row.rank:<4} {row.score:8.3g}  {row.reason:<45} {row.path}")
    return 0


def _checks(args, scores) -> dict:
    """``--checks DATASET_YAML --model WEIGHTS``: the class quality, box-count fit and
    confidence calibration of the model that made ``scores``, measured on the yaml's val split,
    and the class counts of its train labels (what the default strategy reads)."""
    from alkit.data.datasets import class_counts, read_dataset_yaml, read_split
    from alkit.model.scoring import score_pool

    if args.model is None:
        raise ValueError("--checks needs --model WEIGHTS: the checkpoint that made the scores")
    spec = read_dataset_yaml(args.checks)
    pairs = read_split(spec, "val") if "val" in spec.splits else []
    if not any(len(labels) for _, labels in pairs):
        raise ValueError(f"{args.checks}: its val split has no labeled box to measure the "
                         "model's class quality on")
    settings = scores.meta.get("settings", {})
    checked = score_pool(args.model, [str(p) for p, _ in pairs],
                         imgsz=settings.get("imgsz", 640), conf=settings.get("conf", 0.05),
                         iou=settings.get("iou", 0.7), max_det=settings.get("max_det", 100),
                         conf_threshold=scores.conf_threshold, progress=False)
    if scores.meta.get("model_hash") not in (None, checked.meta.get("model_hash")):
        raise ValueError(f"{args.model} is not the model that made {args.scores} (its hash "
                         "differs): give the checkpoint the scores came from")
    truth = {str(p): labels for p, labels in pairs}
    return {"class_quality": checked.class_quality(truth)[0],
            "box_count_fit": checked.fit_box_counts(truth),
            "confidence_calibration": checked.fit_confidence_calibration(truth),
            "class_counts": class_counts(spec, "train")}


def _with_conf(chosen, conf_threshold: float):
    """The query with the saved scores' confidence threshold (boxes were counted at it)."""
    from dataclasses import replace

    return replace(chosen, conf_threshold=conf_threshold)


def _stopping(args) -> int:
    from alkit.core import stopping

    history = stopping.History.from_json(args.history)
    analysis = stopping.analyze(history.labeled, history.metric, threshold=args.threshold,
                                max_rounds=args.max_rounds, budget=args.budget,
                                target=args.target, history=history)
    rows = zip(analysis.labeled[1:], analysis.gains, analysis.roi_per_100, strict=True)
    print("labeled   gain     ROI/100")
    for n, gain, roi in rows:
        print(f"{n:>7.0f} {gain:+.4f} {roi:9.4f}")
    print(analysis.summary())
    for trend in stopping.class_trends(history.per_class):
        print(f"  {trend.reason}")
    return 0


def _init(args) -> int:
    from alkit.loop.project import Project

    project = Project.init(args.project, args.dataset, pool=args.pool, manifest=args.manifest,
                           check_exists=not args.no_check)
    counts = project.ledger.counts()
    print(f"created {project.dir / 'project.db'}: {counts['unlabeled']} pool images, "
          f"{counts['labeled']} labeled seed images")
    project.close()
    return 0


def _annotator(args, project):
    """The annotator ``--annotator`` names (see :data:`ANNOTATORS`)."""
    if args.annotator == "oracle":
        from alkit.annotate.simulated import NoiseModel, Oracle

        noise = NoiseModel(miss_rate=args.noise_miss, shift_rate=args.noise_shift,
                           wrong_class_rate=args.noise_class)
        return Oracle(project.ledger.meta()["dataset_yaml"], noise=noise,
                      random_state=args.seed or 0)
    if args.annotator == "folder":
        from alkit.annotate.folder import FolderAnnotator

        return FolderAnnotator(args.labels, pool_root=project.ledger.meta().get("pool"))
    if args.annotator == "cvat-files":
        from alkit.annotate.cvat import CvatFilesAnnotator

        return CvatFilesAnnotator()
    from alkit.annotate.labelstudio import LabelStudio, LabelStudioAnnotator

    return LabelStudioAnnotator(LabelStudio(args.ls_url, document_root=args.ls_document_root),
                                upload=args.ls_upload)


#: ``alkit round --annotator``: where a round's labels come from.
ANNOTATORS = {
    "oracle": "the simulated annotator: the benchmark's hidden labels (--noise-* adds mistakes)",
    "folder": "YOLO label files dropped into the round's labels/ folder (or --labels DIR, "
              "mirroring the pool)",
    "labelstudio": "tasks on a Label Studio server (--ls-url; token in "
                   "$ALKIT_LABEL_STUDIO_TOKEN)",
    "cvat-files": "CVAT by files: a task package in the round's cvat/to_cvat/, CVAT's exports "
                  "dropped into cvat/from_cvat/",
}


def _round(args) -> int:
    from alkit.loop.config import round_config
    from alkit.loop.project import Project

    config = round_config(
        args.strategy, args.recipe, random_state=args.seed or 0, measure=args.measure,
        budget=args.budget, budget_unit=args.budget_unit, dedupe_threshold=args.dedupe,
        seconds_per_image=args.seconds_per_image, seconds_per_box=args.seconds_per_box,
        epochs=args.epochs, seed_epochs=args.seed_epochs,
        imgsz=args.imgsz, batch=args.batch, device=args.device, initial_weights=args.weights,
        warm_start=False if args.fixed_start else None, engine=args.engine,
        address=args.address, actors=args.actors, gpus_per_actor=args.gpus_per_actor)
    with Project(args.project) as project, _quiet(args.quiet):
        annotator = _annotator(args, project)
        for _ in range(args.rounds):
            record = project.run_round(config, annotator=annotator, progress=not args.quiet)
            if record.status != "done":
                break
        print(project.status())
    return 0


def _quiet(quiet: bool):
    """Ultralytics' per-epoch output off under ``--quiet`` (its warnings stay)."""
    from contextlib import nullcontext

    if not quiet:
        return nullcontext()
    from alkit.model.yolo import quiet as ultralytics_quiet

    return ultralytics_quiet()


def _status(args) -> int:
    from alkit.loop.project import Project

    with Project(args.project) as project:
        print(project.status())
    return 0


def _audit(args) -> int:
    from alkit.loop.project import Project

    with Project(args.project) as project, _quiet(args.quiet):
        report = project.audit(args.round, args.top, imgsz=args.imgsz,
                               high_probability_threshold=args.high_threshold,
                               progress=not args.quiet)
        print(report.summary())
        if args.plot is not None:
            report.plot().savefig(args.plot, dpi=120, bbox_inches="tight")
            print(f"plot: {args.plot}")
        if args.send_back:
            worst = report.table.head(args.send_back)
            for row in worst.itertuples():
                project.send_back(int(row.image_id), row.issues or f"audit {report.number}: "
                                  f"label quality {row.score:.3f} (rank {row.rank})",
                                  audit=report.number)
            print(f"sent back for relabeling: the {len(worst)} most likely mislabeled images "
                  "(the next round's annotation job carries them)")
    return 0


def _cost_model(args):
    from alkit.core.cost import CostModel

    default = CostModel()
    return CostModel(default.seconds_per_image if args.seconds_per_image is None
                     else args.seconds_per_image,
                     default.seconds_per_box if args.seconds_per_box is None
                     else args.seconds_per_box)


def _engine_kwargs(args) -> dict:
    """``score_pool``'s engine keywords from ``--engine --address --actors --gpus-per-actor``."""
    return {"engine": args.engine or "local", "address": args.address,
            "actors": args.actors or 2, "gpus_per_actor": args.gpus_per_actor or 0.0}


def _monitor(args) -> int:
    from alkit.core.drift import ChangeRule
    from alkit.loop.project import Project

    if not args.batches and not args.report and args.plot is None:
        raise ValueError("give batches to monitor, --report, or both")
    rule = ChangeRule(flagged_ratio=args.flagged_ratio, far_min_rise=args.far_rise)
    with Project(args.project) as project, _quiet(args.quiet):
        for source in args.batches:
            record = project.monitor(
                source, model=args.model, imgsz=args.imgsz, flag_threshold=args.threshold,
                budget=args.budget, strategy=args.strategy, measure=args.measure,
                from_flagged=not args.all_images, random_state=args.seed,
                scoring=_engine_kwargs(args), progress=not args.quiet)
            stats = record["stats"]
            print(f"batch {record['number']} {record['name']}: {record['n_scored']} scored "
                  f"({stats['scoring']['n_inferred']} inferred), {record['n_skipped']} "
                  f"skipped, {record['n_flagged']} flagged, {record['n_sent']} sent; far "
                  f"{stats['far_share']:.0%}, KS {stats['confidence_ks']:.2f}")
            for image in project.ledger.monitor_images(record["number"]):
                if image["status"] == "skipped":
                    print(f"  skipped {image['path']}: {image['reason']}")
        if args.report or args.plot is not None:
            report = project.monitor_report(rule)
            print(report.summary())
            if args.plot is not None:
                report.plot().savefig(args.plot, dpi=100)
                print(f"plots: {args.plot}")
    return 0


def _starter(args) -> int:
    from alkit.loop.starter import run_starter
    from alkit.model.recipe import recipe

    chosen = recipe(args.recipe, epochs=args.epochs, seed_epochs=args.seed_epochs,
                    imgsz=args.imgsz, batch=args.batch, device=args.device)
    run_starter(args.data, pool=args.pool, weights=args.weights, labels=args.labels,
                sample_preset=args.samples, recipe=chosen, budget=args.budget,
                budget_unit=args.budget_unit or "images", cost_model=_cost_model(args),
                n_seeds=args.seeds, control=args.control, out=args.out, workdir=args.workdir,
                random_state=args.seed, progress=not args.quiet, jobs=args.jobs)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``alkit`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="alkit", description="Active learning for object detection with Ultralytics YOLO.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("samples", help="build the sample detection benchmark")
    _add_samples_option(p, help="sizes (alkit.PRESETS)")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default data_samples/generated/SAMPLES)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_samples)

    p = sub.add_parser("validate", help="check a dataset yaml, its images and labels")
    p.add_argument("dataset_yaml", type=Path)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--max-problems", type=int, default=200, help="problems to print (text)")
    p.add_argument("--no-duplicates", action="store_true",
                   help="skip the cross-split duplicate-image check (hashes every image)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_validate)

    p = sub.add_parser("score", help="score an image pool: boxes, class scores, embeddings, "
                                     "every uncertainty measure (cached, resumable)")
    p.add_argument("model", help="a .pt checkpoint or a model yaml")
    p.add_argument("source", type=Path,
                   help="image directory, list file, or a dataset yaml (its pool split)")
    p.add_argument("--out", type=Path, default=Path("scores.npz"),
                   help="PoolScores file (a .csv table is written beside it)")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--conf", type=float, default=0.05, help="NMS confidence of stored boxes")
    p.add_argument("--iou", type=float, default=0.7)
    p.add_argument("--max-det", type=int, default=100)
    p.add_argument("--conf-threshold", type=float, default=0.25,
                   help="boxes at or above it count in the measures")
    p.add_argument("--embed-layer", type=int, default=None,
                   help="embedding layer (default: the last backbone block)")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--device", default="cpu")
    _add_engine_options(p)
    p.add_argument("--top", type=int, default=10, help="most uncertain images to print")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_score)

    p = sub.add_parser("select", help="choose the images to label next from saved scores")
    p.add_argument("scores", type=Path, help="a PoolScores .npz written by alkit score")
    _add_query_options(p, budget_required=True)
    p.add_argument("--labeled", type=Path, default=None,
                   help="file of image paths already labeled (never picked; k-center and "
                        "TypiClust start from them)")
    p.add_argument("--checks", type=Path, default=None,
                   help="dataset yaml: its val split measures the model's class quality and "
                        "box counts, its train labels give the class counts (the default "
                        "strategy and ppal need them)")
    p.add_argument("--model", default=None,
                   help="with --checks: the checkpoint that made the scores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("selection.csv"))
    p.add_argument("--show", type=int, default=10, help="picks to print")
    p.set_defaults(func=_select)

    p = sub.add_parser("stopping", help="analyze a learning-curve history: stop or continue?")
    p.add_argument("history", type=Path,
                   help='JSON with "labeled" and "metric" lists (optional "per_class")')
    p.add_argument("--threshold", type=float, default=0.005)
    p.add_argument("--max-rounds", type=int, default=10)
    p.add_argument("--budget", type=float, default=None, help="total labels you could buy")
    p.add_argument("--target", type=float, default=None, help="the metric you need")
    p.set_defaults(func=_stopping)

    p = sub.add_parser("init", help="start an active-learning project from a dataset yaml")
    p.add_argument("project", type=Path, help="project directory (the ledger goes there)")
    p.add_argument("--dataset", type=Path, required=True,
                   help="dataset yaml with train (the seed set), val, test and pool splits")
    p.add_argument("--pool", type=Path, default=None,
                   help="the pool's image folder or list file (default: the yaml's pool)")
    p.add_argument("--manifest", type=Path, default=None,
                   help="the pool as a manifest for big pools: a .txt list of paths or a "
                        ".parquet file with a 'path' column (checked whole, not hashed)")
    p.add_argument("--no-check", action="store_true",
                   help="--manifest: do not require each path to be a file here (paths "
                        "only the cluster's nodes can read)")
    p.set_defaults(func=_init)

    p = sub.add_parser("round", help="run (or resume) rounds: score, select, stage, annotate, "
                                     "train, evaluate, record")
    p.add_argument("project", type=Path)
    p.add_argument("--rounds", type=int, default=1, help="how many rounds to run")
    _add_query_options(p, budget_required=False)
    _add_recipe_options(p, default="cpu")
    _add_engine_options(p)
    p.add_argument("--weights", default=None, help="initial checkpoint (default: the "
                                                   "pretrained start if installed)")
    p.add_argument("--fixed-start", action="store_true",
                   help="train every round from the initial checkpoint, not the last round's")
    p.add_argument("--seed", type=int, default=None, help="the run's random_state (0)")
    p.add_argument("--annotator", choices=sorted(ANNOTATORS), default="oracle",
                   help="; ".join(f"{k}: {v}" for k, v in ANNOTATORS.items()))
    p.add_argument("--labels", type=Path, default=None,
                   help="folder annotator: a folder of YOLO files mirroring the pool (default: "
                        "each round's labels/ folder)")
    p.add_argument("--ls-url", default="http://127.0.0.1:8080", help="Label Studio server")
    p.add_argument("--ls-document-root", default=None,
                   help="the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: that "
                        "variable here, else /)")
    p.add_argument("--ls-upload", action="store_true",
                   help="labelstudio: upload the images to the server instead of serving them "
                        "from this disk (a server on another machine)")
    p.add_argument("--noise-miss", type=float, default=0.0, help="oracle: missed-box rate")
    p.add_argument("--noise-shift", type=float, default=0.0, help="oracle: shifted-box rate")
    p.add_argument("--noise-class", type=float, default=0.0, help="oracle: wrong-class rate")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_round)

    p = sub.add_parser("status", help="rounds, counts, what is waiting, stop or continue")
    p.add_argument("project", type=Path)
    p.set_defaults(func=_status)

    _add_monitor_parser(sub)
    _add_audit_parser(sub)
    _add_starter_parser(sub)
    return parser


def _precise_or_number(text: str) -> float | str:
    if text == "precise":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected 'precise' or a confidence in (0, 1], got "
                                         f"{text!r}")
    return value


def _add_audit_parser(sub) -> None:
    p = sub.add_parser("audit", help="label audit: the labels a round imported, scored by "
                                     "ObjectLab (cleanlab) against the previous model")
    p.add_argument("project", type=Path)
    p.add_argument("--round", type=int, default=None,
                   help="the round whose labels to audit (default: the last finished one)")
    p.add_argument("--top", type=int, default=10,
                   help="how many of the most likely mislabeled images to print (10)")
    p.add_argument("--imgsz", type=int, default=None,
                   help="prediction image size (default: the one the round used)")
    p.add_argument("--high-threshold", type=_precise_or_number, default="precise",
                   help="confidence from which a prediction may reveal an overlooked box or a "
                        "swapped class: 'precise' (default: where the model is 95%% precise on "
                        "these images, at most 0.95) or a number (0.95: cleanlab's own)")
    p.add_argument("--plot", type=Path, default=None,
                   help="save the score histogram and the worst images' parts here (.png)")
    p.add_argument("--send-back", type=int, default=0, metavar="N",
                   help="send the N most likely mislabeled images back for relabeling in the "
                        "next round, their issues as the reason (default 0: none)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_audit)


def _add_monitor_parser(sub) -> None:
    from alkit.core.strategy import STRATEGIES

    p = sub.add_parser(
        "monitor", help="after deployment: score batches of production images with the "
                        "deployed model, record drift, send a budget to the pool; --report")
    p.add_argument("project", type=Path)
    p.add_argument("batches", nargs="*", type=Path,
                   help="batches in time order: folders (the next day's folder) or manifests "
                        "(.txt: path[TAB timestamp]; .csv / .parquet: path, timestamp)")
    p.add_argument("--model", default=None,
                   help="the deployed checkpoint (default: the last finished round's model)")
    p.add_argument("--imgsz", type=int, default=None,
                   help="inference size (default: the size the model was trained at)")
    p.add_argument("--threshold", type=float, default=0.6,
                   help="flag an image whose most confident box is below this (0.6)")
    p.add_argument("--budget", type=int, default=0,
                   help="images per batch to send to the pool for relabeling (0)")
    p.add_argument("--strategy", default="least_confidence",
                   help=f"how the budget is chosen: one of {', '.join(STRATEGIES)} that needs "
                        "no class quality (least_confidence)")
    p.add_argument("--measure", default=None,
                   help="replaces the strategy's per-box measure (default: its own)")
    p.add_argument("--all-images", action="store_true",
                   help="choose the budget among every scored image, not only flagged ones")
    p.add_argument("--seed", type=int, default=0, help="random_state of the strategy")
    p.add_argument("--report", action="store_true",
                   help="print the report over time: changed batches and why")
    p.add_argument("--plot", type=Path, default=None,
                   help="write the report's plots (flagged rate, drift, class mix) to a PNG")
    p.add_argument("--flagged-ratio", type=float, default=2.0,
                   help="change rule: flagged rate this many times its baseline (2)")
    p.add_argument("--far-rise", type=float, default=0.15,
                   help="change rule: far share this much above its baseline (0.15)")
    _add_engine_options(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_monitor)


def _add_starter_parser(sub) -> None:
    p = sub.add_parser(
        "starter", aliases=["demo"],
        help="the starter experiment: K least confident vs K random pool images vs K picked "
             "by alkit's default strategy, labeled, retrained, measured side by side "
             "(make demo)")
    _add_samples_option(p, help="the sample benchmark to build when --data is not given "
                               "(starter: 200 labeled seed images and a 2,000-image pool, so "
                               "that K = 200 is 10%% of it)",
                        default="starter")
    p.add_argument("--data", type=Path, default=None,
                   help="your dataset yaml: names, train (the labeled seed set), val, test")
    p.add_argument("--pool", type=Path, default=None,
                   help="the pool's image folder or list file (default: the yaml's pool)")
    p.add_argument("--weights", default=None,
                   help="your seed model (a .pt with the dataset's classes, used as is) or "
                        "start weights to fine-tune (default: the pretrained start if installed)")
    p.add_argument("--labels", type=Path, default=None,
                   help="folder of YOLO label files for the pool (default: the benchmark's "
                        "hidden labels, through the simulated annotator)")
    p.add_argument("--budget", type=float, default=200,
                   help="K, what each arm (bottom, random, default strategy) spends: "
                        "images (default), or see --budget-unit")
    _add_cost_options(p, unit_help="K in images (default), boxes (the seed model's predicted "
                                   "boxes) or cost (annotation seconds of the cost model)")
    p.add_argument("--seeds", type=int, default=3, help="repetitions")
    _add_recipe_options(p, default="starter")
    p.add_argument("--control", action=argparse.BooleanOptionalAction, default=False,
                   help="also retrain on the seed images alone: how much the extra epochs "
                        "give (one more training per seed)")
    p.add_argument("--jobs", type=int, default=2,
                   help="arms trained at once, in worker processes sharing the CPU threads "
                        "(1: one after the other in this process)")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default WORKDIR/starter-SAMPLES)")
    p.add_argument("--workdir", type=Path, default=Path("data_samples/generated"))
    p.add_argument("--seed", type=int, default=0,
                   help="base seed of the repetitions (random picks, training)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_starter)


def _add_samples_option(p, *, help: str, default: str = "small") -> None:
    from alkit.data.samples import PRESETS

    # --preset is the old name of the same option (kept working)
    p.add_argument("--samples", "--preset", dest="samples", choices=sorted(PRESETS),
                   default=default, help=help)


def _add_recipe_options(p, *, default: str) -> None:
    from alkit.model.recipe import RECIPES

    # --preset is the old name of --recipe in alkit round (kept working)
    names = ("--recipe", "--preset") if default == "cpu" else ("--recipe",)
    p.add_argument(*names, dest="recipe", choices=sorted(RECIPES), default=default,
                   help=f"training recipe (alkit.RECIPES; default {default}); the flags below "
                        "override its fields")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed-epochs", type=int, default=None,
                   help="epochs of the seed model from the start weights (0: the weights are "
                        "the seed model)")
    p.add_argument("--imgsz", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--device", default=None, help="cpu (default), 0, cuda:0, ...")


def _add_engine_options(p) -> None:
    p.add_argument("--engine", choices=("local", "ray"), default=None,
                   help="where pool scoring runs: local (this process, default) or ray "
                        "(Ray actors; pip install 'alkit[ray]', docs/distributed.md)")
    p.add_argument("--address", default=None,
                   help="ray: a running cluster's host:port (default: a private Ray on "
                        "127.0.0.1)")
    p.add_argument("--actors", type=int, default=None, help="ray: scoring actors (2)")
    p.add_argument("--gpus-per-actor", type=float, default=None,
                   help="ray: GPUs each actor reserves (0: CPU actors)")


def _add_query_options(p, *, budget_required: bool) -> None:
    """``--strategy`` (default: alkit's default strategy) and the query's options."""
    from alkit.core.strategy import DEFAULT, STRATEGIES
    from alkit.core.uncertainty import MEASURES

    p.add_argument("--strategy", default=DEFAULT,
                   help=f"a named strategy: {', '.join(STRATEGIES)} (default {DEFAULT}; which "
                        "to use when: docs/selection.md)")
    p.add_argument("--measure", default=None,
                   help="the per-box uncertainty measure of the strategy's utility "
                        f"({', '.join(MEASURES)}; default: the strategy's)")
    p.add_argument("--budget", type=float, required=budget_required, default=None,
                   help="how much to pick" + ("" if budget_required else " (100)"))
    _add_cost_options(p, unit_help="images (default), boxes (the model's predicted boxes) or "
                                   "cost (annotation seconds: --seconds-per-image + "
                                   "--seconds-per-box x the expected boxes)")
    p.add_argument("--dedupe", type=float, default=None,
                   help="pass over picks with cosine similarity >= this to an earlier pick "
                        "or a labeled image")


def _add_cost_options(p, *, unit_help: str) -> None:
    from alkit.core.query import BUDGET_UNITS

    p.add_argument("--budget-unit", choices=BUDGET_UNITS, default=None, help=unit_help)
    p.add_argument("--seconds-per-image", type=float, default=None,
                   help="cost model: seconds to open and check an image (default 4)")
    p.add_argument("--seconds-per-box", type=float, default=None,
                   help="cost model: seconds to draw one box (default 25.5)")


def _version() -> str:
    from alkit import __version__

    return f"alkit {__version__}"


def main(argv: list[str] | None = None) -> int:
    """Run ``alkit`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    args = build_parser().parse_args(argv)
    from alkit.annotate.labelstudio import LabelStudioError
    from alkit.data.datasets import DatasetError
    from alkit.loop.ledger import LedgerError
    from alkit.model.distributed import DistributedError

    try:
        return args.func(args)
    except (DatasetError, LedgerError, LabelStudioError, FileNotFoundError, FileExistsError,
            ValueError, DistributedError) as error:
        print(f"alkit {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"alkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
