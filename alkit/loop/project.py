"""The project: the one active-learning loop, over a project directory, resumable at every step.

Project layout::

    <project>/project.db                 the ledger (:mod:`alkit.loop.ledger`)
    <project>/train/images/<id>_<name>   links to every labeled image (seed and imported)
    <project>/train/labels/<id>_<stem>.txt   their YOLO labels
    <project>/train/dataset.yaml         train: the labeled list; val / test: the dataset's
    <project>/rounds/round_NNN/          staged images (links), manifest.json, labels/ (drop
                                         annotations here for the folder annotator)
    <project>/runs/                      training runs;  <project>/scores/  the scoring cache

**A round** (:meth:`Project.run_round`, one :class:`alkit.RoundConfig`: a query, a recipe and a
``random_state``). Round 0 trains the seed model on the seed split (or, with
``recipe.seed_epochs = 0``, takes the start weights as the seed model). Each later round:

1. *select*: score the unlabeled pool **and the labeled set** with the previous round's model
   (cached), run the query with the labeled images as the labeled rows (k-center starts from
   them; they are never picked; the near-duplicate filter compares against them), record the
   picks and what the selection reported in one transaction;
2. *stage*: link the picks into ``rounds/round_NNN/images`` with ``manifest.json`` (round,
   query count, image list with rank, score and reason, the mAP50 before annotation);
3. *annotate*: hand the waiting picks to the annotator (:class:`alkit.Annotator`: the
   simulated annotator by default, dropped label files, Label Studio, the notebook's box
   editor); what it answers is validated as a whole and imported; the round waits for the
   rest (status ``annotating``) until the next call;
4. *train* with the recipe (warm start from the previous round's best checkpoint by default;
   mixup only from ``recipe.mixup_from_round``), evaluate on the fixed test split, record.

**Resume.** The round's status in the ledger (selecting, staged, annotating, training, done)
is the state of one state machine (:meth:`Project._advance`): every step is committed before
the next starts, so a process killed anywhere (SIGKILL included) continues from the last
committed step when called again, and nothing is queried, labeled or trained twice.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from alkit.annotate.base import AnnotationItem, AnnotationJob, Annotator
from alkit.core.context import RoundContext
from alkit.core.query import run_query
from alkit.core.stopping import History, analyze
from alkit.data import datasets, files
from alkit.data.datasets import DatasetError, Labels
from alkit.loop.config import RoundConfig
from alkit.loop.ledger import Ledger, LedgerError, RoundRecord


class Project:
    """An active-learning project directory with its ledger (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory).resolve()
        self.ledger = Ledger(self.dir)
        meta = self.ledger.meta()
        self.spec = datasets.read_dataset_yaml(meta["dataset_yaml"])
        self.scores_dir = Path(meta.get("scores_dir") or self.dir / "scores")

    @classmethod
    def init(cls, directory: str | os.PathLike, dataset_yaml: str | os.PathLike, *,
             pool: str | os.PathLike | None = None,
             scores_dir: str | os.PathLike | None = None,
             manifest: str | os.PathLike | None = None,
             check_exists: bool = True) -> Project:
        """Create the ledger and register the pool (unlabeled) and the seed split (labeled).

        Args:
            directory: the project directory (created; refused when a ledger is there).
            dataset_yaml: names, ``train`` (the labeled seed set), ``val``, ``test`` and,
                unless ``pool`` is given, ``pool`` (the unlabeled images).
            pool: the pool's image folder or list file, instead of the yaml's.
            scores_dir: the scoring cache (default ``<project>/scores``); projects that score
                with the same models (a benchmark's cells) can share one.
            manifest: the pool as a manifest (:func:`alkit.data.manifest.read_manifest`: a text
                or parquet list of paths, for pools of millions): checked whole before the
                ledger is created, bulk-inserted in one transaction, and not hashed here
                (the ledger's hash stays empty; scoring hashes each image's bytes when it
                reads them). Exclusive with ``pool``.
            check_exists: with ``manifest``, require every listed path to be a file here.
        """
        spec = datasets.read_dataset_yaml(dataset_yaml)
        if manifest is not None:
            if pool is not None:
                raise ValueError("give the pool as pool= or as manifest=, not both")
            return cls._init_from_manifest(directory, dataset_yaml, spec, manifest,
                                           scores_dir, check_exists)
        pool_source = pool if pool is not None else spec.splits.get("pool")
        if pool_source is None:
            raise DatasetError(dataset_yaml, "an active-learning project needs a 'pool' split "
                               "(the unlabeled images), or pool=")
        pool_images = datasets.list_images(pool_source)
        return cls._create(directory, dataset_yaml, spec, scores_dir,
                           ((str(p), datasets.file_sha256(p)) for p in pool_images),
                           pool=str(Path(pool_source).resolve()))

    @classmethod
    def _create(cls, directory, dataset_yaml, spec, scores_dir, pool_items, **meta) -> Project:
        """The ledger with ``meta``, the pool's ``(path, hash)`` items and the labeled seed
        split (its labels stored as round 0)."""
        seed = datasets.read_split(spec, "train")
        if scores_dir is not None:
            meta["scores_dir"] = str(Path(scores_dir).resolve())
        ledger = Ledger.create(directory, dataset_yaml=dataset_yaml, names=spec.names, **meta)
        ledger.add_images(pool_items, split="pool")
        ledger.add_images(((str(p), datasets.file_sha256(p)) for p, _ in seed), split="seed")
        ledger.close()
        project = cls(directory)
        for image, labels in seed:
            project._store_label(image, labels, round_number=0, source="seed")
        return project

    @classmethod
    def _init_from_manifest(cls, directory, dataset_yaml, spec, manifest, scores_dir,
                            check_exists: bool) -> Project:
        from alkit.data.manifest import read_manifest

        pool_images = read_manifest(manifest, check_exists=check_exists)
        return cls._create(directory, dataset_yaml, spec, scores_dir,
                           ((p, "") for p in pool_images),
                           pool=os.path.commonpath(pool_images) if len(pool_images) > 1
                           else str(Path(pool_images[0]).parent),
                           manifest=str(Path(manifest).resolve()))

    def close(self) -> None:
        """Close the project's ledger."""
        self.ledger.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- the labeled set on disk

    def _train_paths(self, image_id: int, image: Path) -> tuple[Path, Path]:
        name = f"{image_id:06d}_{image.name}"
        return (self.dir / "train" / "images" / name,
                self.dir / "train" / "labels" / f"{Path(name).stem}.txt")

    def _store_label(self, image: str | os.PathLike, labels: Labels, *, round_number: int,
                     source: str, annotator: str | None = None) -> bool:
        """Link the image into the labeled set, write its label file, record it (idempotent)."""
        image_id = self.ledger.image_ids([str(image)])[0]
        link, label_path = self._train_paths(image_id, Path(image))
        files.link(image, link)
        text = datasets.format_labels(labels)
        files.write_text_atomic(label_path, text)
        return self.ledger.record_label(
            image_id, round_number=round_number, source=source, label_path=str(label_path),
            label_hash=hashlib.sha256(text.encode()).hexdigest(), n_objects=len(labels),
            annotator=annotator)

    def training_yaml(self) -> Path:
        """A dataset yaml whose train split is exactly the ledger's labeled set."""
        images = [self._train_paths(r["image_id"], Path(r["path"]))[0]
                  for r in self.ledger.labeled()]
        listing = self.dir / "train" / "labeled.txt"
        files.write_text_atomic(listing, "".join(f"{p}\n" for p in images))
        splits = {"train": str(listing), "val": str(self.spec.splits["val"])}
        if "test" in self.spec.splits:
            splits["test"] = str(self.spec.splits["test"])
        return datasets.write_dataset_yaml(self.dir / "train" / "dataset.yaml", self.spec.names,
                                           splits, comment="generated by alkit from the ledger")

    # ---- rounds: one state machine

    def run_round(self, config: RoundConfig = RoundConfig(), *,
                  annotator: Annotator | None = None, progress: bool = True,
                  splits: tuple[str, ...] = ("pool", "production")) -> RoundRecord:
        """Run (or resume) the next round until it is done or waits for labels; returns its
        record (status ``done``, or ``annotating`` while labels are missing: call again once
        they are in).

        Args:
            config: the query, the recipe and the seed of every round.
            annotator: any :class:`alkit.Annotator` (default: the simulated annotator over the
                dataset's hidden labels).
            progress: progress bars while scoring.
            splits: the ledger splits a new round queries: the original ``pool`` and the
                ``production`` images that :meth:`monitor` sent; ``("production",)`` labels
                only what monitoring sent.
        """
        return self._advance(config, annotator, progress, until="done", splits=splits)

    def stage_round(self, config: RoundConfig = RoundConfig(), *,
                    progress: bool = True) -> RoundRecord:
        """Score, select and stage the next round without annotating it, so that a person can
        review the picks first (``alkit.ui.widgets.ReviewGrid``). A round already staged or
        waiting for labels is returned as it is; one killed while selecting is finished.
        Needs a finished seed round. ``config`` and ``progress`` as in :meth:`run_round`."""
        last = self.ledger.last_round()
        if last is None or (last.number == 0 and last.status != "done"):
            raise LedgerError("stage_round needs a finished seed round: call run_round first")
        return self._advance(config, None, progress, until="staged")

    def _advance(self, config: RoundConfig, annotator, progress: bool, *,
                 until: str, splits: tuple[str, ...] = ("pool", "production")) -> RoundRecord:
        """Step the last round through selecting -> staged -> annotating -> training -> done
        (a done round opens the next one), committing each step; stop when a round is done,
        waits for labels, or (``until="staged"``) is staged."""
        while True:
            last = self.ledger.last_round()
            if last is None:
                self._open_seed_round(config)
            elif last.status == "done":
                self._open_round(last, config)
            elif last.status == "selecting":
                self._select(last, config, progress, splits)
            elif last.status in ("staged", "annotating"):
                if not (self.round_dir(last.number) / "manifest.json").exists():
                    self._stage(last.number)  # killed while staging: staging is idempotent
                if until == "staged":
                    return self._round(last.number)
                self.ledger.set_round_status(last.number, "annotating")
                if not self._annotate(last, config, annotator):
                    return self._round(last.number)
                self.ledger.set_round_status(last.number, "training")
            elif until == "staged":
                raise LedgerError(f"round {last.number} is training: finish it with run_round")
            else:
                return self._train(last, config)

    def _open_seed_round(self, config: RoundConfig) -> None:
        from alkit.model import yolo

        start = config.recipe.initial_weights or yolo.default_start_weights()
        if config.recipe.seed_epochs == 0:
            self._check_seed_model(start)
        self.ledger.start_round(0, strategy=None, params={}, model_before=start,
                                model_before_hash=yolo.weights_hash(start), metrics_before=None)
        self.ledger.set_round_status(0, "training")

    def _check_seed_model(self, weights: str) -> None:
        from alkit.model import yolo

        names = yolo.class_names(weights)
        if names != tuple(self.spec.names):
            raise ValueError(f"{weights}: its classes {list(names)} are not the dataset's "
                             f"{list(self.spec.names)}, so it is no seed model; give "
                             "seed_epochs > 0 (--seed-epochs) to fine-tune it on the seed "
                             "split first")

    def adopt_seed_round(self, record: RoundRecord) -> RoundRecord:
        """Make ``record``, a finished round 0 of another project (same dataset and seed
        split), this project's round 0, in one transaction: projects that start from one shared seed
        model (a benchmark's cells, the starter's arms). A no-op once round 0 exists."""
        if record.number != 0 or record.status != "done":
            raise LedgerError("adopt_seed_round needs a finished round 0")
        if self.ledger.last_round() is None:
            self.ledger.record_finished_round(
                0, strategy=None, params={"shared_seed_model": True},
                model_before=record.model_before, model_before_hash=record.model_before_hash,
                model_after=record.model_after, model_after_hash=record.model_after_hash,
                metrics_after=record.metrics_after)
        return self._round(0)

    def _open_round(self, previous: RoundRecord, config: RoundConfig) -> None:
        if not self.ledger.counts()["unlabeled"]:
            raise LedgerError("the pool has no unlabeled image left to query")
        self.ledger.start_round(
            previous.number + 1, strategy=config.query.strategy.name,
            params=config.query.to_dict(),
            model_before=previous.model_after, model_before_hash=previous.model_after_hash,
            metrics_before=previous.metrics_after)

    def _select(self, record: RoundRecord, config: RoundConfig, progress: bool,
                splits: tuple[str, ...] = ("pool", "production")) -> None:
        """Score pool and labeled set, build the round's context, run the query, record the
        picks (-> staged)."""
        number, query = record.number, config.query
        unlabeled = self.ledger.images(state="unlabeled", split=splits)
        if not unlabeled:
            raise LedgerError(f"the {' and '.join(splits)} split(s) have no unlabeled image "
                              "left to query")
        if query.budget == 0:  # a control round: retrain without new labels
            self.ledger.record_queries(number, [], [], [], params=query.to_dict())
            return
        ids = {r["path"]: r["id"] for r in unlabeled}
        labeled = [r["path"] for r in self.ledger.labeled()]
        scores = self._score(record.model_before, [*ids, *labeled], config, progress)
        context = self._context(record, config, scores, ids, progress)
        picked = run_query(query, scores, context,
                           random_state=config.seed_for("select", number))
        self.ledger.record_queries(number, [ids[scores.paths[i]] for i in picked.indices],
                                   picked.scores, picked.reasons, params=picked.params)

    def _context(self, record: RoundRecord, config: RoundConfig, scores, unlabeled_ids,
                 progress: bool) -> RoundContext:
        """The round's :class:`alkit.core.context.RoundContext`, computed once: the labeled
        rows and class counts always; the class quality and box-count fit on the checked
        images when the strategy reads them or the budget counts seconds; a committee's
        disagreement when the strategy is query-by-committee."""
        query = config.query
        chosen = query.strategy
        quality = box_fit = calibration = None
        if ("class_quality" in chosen.needs or "confidence_calibration" in chosen.needs
                or getattr(chosen, "uses_seconds", False) or query.budget_unit == "cost"):
            quality, box_fit, calibration = self._checks(
                record.model_before, config, progress,
                calibrate="confidence_calibration" in chosen.needs)
        disagreement = (self._committee_disagreement(record, config, scores.paths, progress)
                        if getattr(chosen, "committee_members", 0) else None)
        return RoundContext.of(
            scores, labeled=np.array([p not in unlabeled_ids for p in scores.paths]),
            class_counts=self._class_counts(), class_quality=quality, box_count_fit=box_fit,
            cost_model=query.cost_model, disagreement=disagreement,
            confidence_calibration=calibration)

    def _score(self, model, paths, config: RoundConfig, progress: bool):
        from alkit.model.scoring import score_pool

        return score_pool(model, [str(p) for p in paths], imgsz=config.recipe.imgsz,
                          conf_threshold=config.query.conf_threshold,
                          cache_dir=self.scores_dir, progress=progress,
                          **config.recipe.scoring_kwargs())

    def _committee_disagreement(self, record: RoundRecord, config: RoundConfig, paths,
                                progress: bool) -> np.ndarray:
        """(N,) committee disagreement over ``paths`` (``Strategy.committee_members`` models).
        Members train under ``runs/round_NNN_committee``; a round killed while its committee
        trains retrains it when resumed."""
        from alkit.core.disagreement import committee_disagreement
        from alkit.model.committee import train_committee

        members = train_committee(
            self.training_yaml(), n_members=config.query.strategy.committee_members,
            weights=record.model_before, recipe=config.recipe, round_number=record.number,
            runs_dir=self.dir / "runs" / f"round_{record.number:03d}_committee",
            random_state=config.seed_for("committee", record.number))
        return committee_disagreement([self._score(m, paths, config, progress)
                                       for m in members])

    def _checks(self, model, config: RoundConfig, progress: bool, calibrate: bool = False):
        """``(quality_C, box_count_fit, confidence_calibration)`` of the model on the
        dataset's val split, or on the labeled set when there is no val split with boxes: its
        (C,) class quality (:meth:`alkit.PoolScores.class_quality`), its expected boxes
        calibrated against the real counts (:meth:`alkit.PoolScores.fit_box_counts`, ``None``
        when no better than the raw sum) and, with ``calibrate``, what its confidences mean
        (:meth:`alkit.PoolScores.fit_confidence_calibration`, ``None`` with too few boxes);
        ``(None, None, None)`` when neither set has a box (a strategy that needs one of them
        is then refused with a message)."""
        pairs = datasets.read_split(self.spec, "val") if "val" in self.spec.splits else []
        if not any(len(labels) for _, labels in pairs):
            pairs = [(Path(r["path"]), datasets.read_labels(r["label_path"], len(self.spec.names)))
                     for r in self.ledger.labeled()]
        if not any(len(labels) for _, labels in pairs):
            return None, None, None
        scores = self._score(model, [str(p) for p, _ in pairs], config, progress)
        truth = {str(p): labels for p, labels in pairs}
        quality, _ = scores.class_quality(truth)
        calibration = scores.fit_confidence_calibration(truth) if calibrate else None
        return quality, scores.fit_box_counts(truth), calibration

    def _class_counts(self) -> np.ndarray:
        counts = np.zeros(len(self.spec.names), dtype=np.int64)
        for row in self.ledger.labeled():
            labels = datasets.read_labels(row["label_path"], len(self.spec.names))
            counts += np.bincount(labels.class_ids, minlength=len(counts))
        return counts

    def round_dir(self, number: int) -> Path:
        """``<project>/rounds/round_NNN`` of round ``number``: the staged images, manifest and
        dropped labels."""
        return self.dir / "rounds" / f"round_{number:03d}"

    @staticmethod
    def _staged_name(query: dict) -> str:
        return f"{query['image_id']:06d}_{Path(query['path']).name}"

    def _stage(self, number: int) -> Path:
        """Links to the round's images (the picks, then the images sent back for relabeling
        that its job carries) plus ``manifest.json`` (rewritten on resume)."""
        folder = self.round_dir(number)
        self._carry_relabels(number)
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "labels").mkdir(exist_ok=True)
        queries = self.ledger.queries(number)
        relabels = [r for r in self.waiting(number) if r["state"] == "relabel"]
        for q in [*queries, *relabels]:
            files.link(q["path"], folder / "images" / self._staged_name(q))
        record = self._round(number)
        files.write_json(folder / "manifest.json", {
            "round": number, "query_count": len(queries), "strategy": record.strategy,
            "params": record.params,
            "map50_before": (record.metrics_before or {}).get("map50"),
            "model_before": record.model_before,
            "images": [{"rank": q["rank"], "path": q["path"], "staged": self._staged_name(q),
                        "score": q["score"], "reason": q["reason"]} for q in queries],
            "relabel": [{"rank": r["rank"], "path": r["path"], "staged": self._staged_name(r),
                         "reason": r["reason"]} for r in relabels],
        })
        return folder

    # ---- annotation

    def waiting(self, number: int) -> list[dict]:
        """What round ``number`` still waits for: its picks neither labeled nor skipped /
        flagged in review (:meth:`record_review`), then the labeled images sent back for
        relabeling that its annotation job carries (:meth:`send_back`; ``state``
        ``"relabel"``, ranked after the picks, ``reason`` starting ``"relabel: "``)."""
        queries = self.ledger.queries(number)
        picks = [q for q in queries if q["state"] == "queried"]
        relabels = [{"image_id": r["image_id"], "path": r["path"], "rank": len(queries) + i + 1,
                     "score": None, "reason": f"relabel: {r['reason']}", "state": "relabel"}
                    for i, r in enumerate(self.ledger.relabels(round=number, open_only=True))]
        return picks + relabels

    def _carry_relabels(self, number: int) -> bool:
        """Round ``number``'s job takes the open relabel requests not yet carried (a round
        still waiting for labels only); True when it took any."""
        if self._round(number).status not in ("staged", "annotating"):
            return False
        return self.ledger.assign_relabels(number) > 0

    def annotation_job(self, number: int, config: RoundConfig = RoundConfig()) -> AnnotationJob:
        """What an annotator is given for round ``number``: its waiting picks and the images
        sent back for relabeling (:meth:`waiting`; open requests join the job of the first
        round still waiting for labels after the audited round), the class names, the staging
        folder, and the model's boxes on request (scored with the recipe's image size and the
        query's confidence threshold from ``config``)."""
        if self._carry_relabels(number):
            self._stage(number)
        record = self._round(number)
        items = tuple(AnnotationItem(q["image_id"], q["path"], self._staged_name(q), q["rank"],
                                     q["score"], q["reason"], q["state"] == "relabel")
                      for q in self.waiting(number))
        model = record.model_before

        def predictions(paths):
            return self._score(model, paths, config, progress=False)

        return AnnotationJob(
            number, items, tuple(self.spec.names), self.round_dir(number),
            project_name=f"alkit {self.dir.name}",
            model_version=f"alkit-round{number}-{(record.model_before_hash or '')[:8]}",
            measure=getattr(config.query.strategy, "table_column", "least_confidence_max"),
            predictions=predictions if model else None)

    def annotate(self, number: int, annotator: Annotator,
                 config: RoundConfig = RoundConfig()) -> int:
        """Ask ``annotator`` for round ``number``'s waiting picks and import its answers.
        The answers are validated as a whole first (class ids index the dataset's names,
        boxes lie inside the image): any problem raises :class:`alkit.DatasetError` naming
        every image and imports nothing. ``config`` gives the measure and scoring settings an
        annotator may ask for. Returns how many labels were imported."""
        job = self.annotation_job(number, config)
        if not job.items:
            return 0
        annotator.request(job)
        answers = {item.path: annotator.answer(item.path) for item in job.items}
        answers = {path: labels for path, labels in answers.items() if labels is not None}
        problems = [f"{path}: {message}" for path, labels in answers.items()
                    for message in self._label_problems(labels)]
        if problems:
            raise DatasetError(self.round_dir(number), f"{annotator.describe()}: annotations "
                               "rejected, nothing imported:\n" + "\n".join(problems))
        relabels = {item.path for item in job.items if item.relabel}
        for path, labels in answers.items():
            if path in relabels:
                self.replace_label(path, labels, source=annotator.source, round_number=number,
                                   annotator=annotator.annotated_by(path),
                                   reason=f"relabeled in round {number}")
            else:
                self._store_label(path, labels, round_number=number, source=annotator.source,
                                  annotator=annotator.annotated_by(path))
        return len(answers)

    def _label_problems(self, labels: Labels) -> list[str]:
        _, problems = datasets.parse_label_text(datasets.format_labels(labels),
                                                len(self.spec.names))
        return [f"object {p.line}: {p.message}" for p in problems if p.fatal]

    def _annotate(self, record: RoundRecord, config: RoundConfig, annotator) -> bool:
        """Import what the annotator has; True when no pick waits any more."""
        if annotator is None:
            from alkit.annotate.simulated import Oracle

            annotator = Oracle(self.spec.yaml_path)
        self.annotate(record.number, annotator, config)
        return not self.waiting(record.number)

    def import_folder(self, number: int) -> int:
        """Import label files dropped into round ``number``'s ``labels/`` folder (the folder
        annotator). Returns how many were imported."""
        from alkit.annotate.folder import FolderAnnotator

        return self.annotate(number, FolderAnnotator())

    # ---- training

    def _train(self, record: RoundRecord, config: RoundConfig) -> RoundRecord:
        """Train (or, for a seed round with ``seed_epochs = 0``, take) the round's model,
        evaluate it on the test split, close the round."""
        from alkit.model import yolo

        recipe, number = config.recipe, record.number
        data = self.training_yaml()
        if number == 0 and recipe.seed_epochs == 0:
            best, seconds = Path(record.model_before), 0.0
        else:
            previous = self._round(number - 1) if number else None
            weights = (previous.model_after if recipe.warm_start and previous is not None
                       else recipe.initial_weights or yolo.default_start_weights())
            result = yolo.train(data, weights=weights, runs_dir=self.dir / "runs",
                                name=f"round_{number:03d}",
                                **recipe.train_kwargs(number,
                                                      random_state=config.seed_for("train",
                                                                                   number)))
            best, seconds = result.best, result.seconds
        split = "test" if "test" in self.spec.splits else "val"
        test = yolo.evaluate(best, data, split=split, imgsz=recipe.imgsz, batch=recipe.batch,
                             device=recipe.device, runs_dir=self.dir / "runs")
        metrics = {"split": split, "map50": test.map50, "map50_95": test.map50_95,
                   "ap50_per_class": test.ap50_per_class, "train_seconds": seconds,
                   "config": config.to_dict()}
        self.ledger.finish_round(number, model_after=str(best),
                                 model_after_hash=yolo.weights_hash(str(best)),
                                 metrics_after=metrics)
        return self._round(number)

    # ---- scores of a round's model

    def round_scores(self, number: int, paths=None, *, imgsz: int | None = None,
                     progress: bool = False):
        """Scores (:class:`alkit.PoolScores`) of ``paths`` (default: every image of the
        project, seed and pool) by the model round ``number`` selected with, through the
        project's scoring cache: the images that round scored cost no new inference.
        ``imgsz`` defaults to the image size that model was trained at; ``progress`` shows a
        bar while images are scored."""
        from alkit.model.scoring import score_pool

        record = self._round(number)
        if record.model_before is None:
            raise LedgerError(f"round {number} has no model to score with (the seed round)")
        config = (record.metrics_before or {}).get("config") or {}
        imgsz = imgsz or (config.get("recipe") or config).get("imgsz")
        if imgsz is None:
            raise ValueError(f"round {number}: the model's image size is not recorded; "
                             "pass imgsz=")
        threshold = (config.get("query") or {}).get("conf_threshold", 0.25)
        paths = [r["path"] for r in self.ledger.images()] if paths is None else paths
        return score_pool(record.model_before, [str(p) for p in paths], imgsz=imgsz,
                          conf_threshold=threshold, cache_dir=self.scores_dir,
                          progress=progress)

    def _round(self, number: int) -> RoundRecord:
        found = [r for r in self.ledger.rounds() if r.number == number]
        if not found:
            raise LedgerError(f"{self.dir}: no round {number} in the ledger")
        return found[0]

    # ---- review and in-notebook annotation (used by alkit.ui)

    def store_label(self, image: str | os.PathLike, labels: Labels, *, round_number: int,
                    source: str = "widget", annotator: str | None = None) -> Path:
        """Add ``labels`` of one ``image`` to the labeled set as a label of round
        ``round_number``: the YOLO label file is written atomically and recorded in the ledger
        at once (``source`` ``"widget"`` for the box editor; ``annotator``: who drew it).
        Class ids must index the dataset's names and boxes lie inside the image; otherwise
        :class:`DatasetError` names every problem and nothing is written. An image that
        already has a label is refused (:class:`LedgerError`). Returns the label file."""
        image_id = self.ledger.image_ids([str(image)])[0]
        if self.ledger.image_state(image_id) == "labeled":
            raise LedgerError(f"{image}: already labeled; a label is never imported twice")
        fatal = self._label_problems(labels)
        if fatal:
            raise DatasetError(image, "label rejected, nothing written:\n" + "\n".join(fatal))
        self._store_label(image, labels, round_number=round_number, source=source,
                          annotator=annotator)
        return self._train_paths(image_id, Path(image))[1]

    def record_review(self, image_id: int, decision: str, *, round_number: int,
                      note: str = "") -> None:
        """Record a review ``decision`` (``"label"``: send to labeling, ``"skip"``:
        uninformative or duplicate, ``"flag"``: broken or out of scope) with a ``note`` on
        ``image_id``, one of round ``round_number``'s picks, written to the ledger at once.
        The latest decision counts: a skipped or flagged image sent to labeling after all is
        queried again. Labeled images are refused (their review is over)."""
        if decision not in ("label", "skip", "flag"):
            raise ValueError(f"unknown decision {decision!r}; expected 'label', 'skip' or 'flag'")
        picked = {q["image_id"]: q for q in self.ledger.queries(round_number)}
        if image_id not in picked:
            raise LedgerError(f"image {image_id} was not picked in round {round_number}")
        if picked[image_id]["state"] == "labeled":
            raise LedgerError(f"{picked[image_id]['path']}: already labeled; its review is over")
        self.ledger.record_decision(image_id, decision, round_number=round_number, note=note)
        if decision == "label":
            self.ledger.requeue([image_id])

    def review_history(self, number: int) -> list[dict]:
        """Every review decision of round ``number`` in the order made: dicts with
        ``image_id``, ``decision``, ``note``, ``decided_at``."""
        return self.ledger.decisions(number)

    def review_decisions(self, number: int) -> dict[int, str]:
        """The latest review decision per image of round ``number``: ``{image_id: decision}``
        (images without a decision are absent)."""
        return {d["image_id"]: d["decision"] for d in self.review_history(number)}

    def finish_review(self, number: int) -> dict:
        """Apply the review of round ``number`` to its staging: skipped and flagged picks
        leave the staged set (links removed; the ledger keeps them out of future picks),
        every staged entry of ``manifest.json`` gets its ``decision``, ``reviewed`` lists the
        images sent to labeling in rank order and ``review`` the counts and the removed
        images. Undecided picks stay staged. Safe to call again. Returns the manifest."""
        decisions = self.review_decisions(number)
        self.ledger.requeue([i for i, d in decisions.items() if d == "label"])
        folder = self._stage(number)  # the full staged set again, then the review applied
        manifest = files.read_json(folder / "manifest.json")
        ids = {q["path"]: q["image_id"] for q in self.ledger.queries(number)}
        kept, removed = [], []
        for entry in manifest["images"]:
            entry["decision"] = decisions.get(ids[entry["path"]])
            if entry["decision"] in ("skip", "flag"):
                (folder / "images" / entry["staged"]).unlink(missing_ok=True)
            (removed if entry["decision"] in ("skip", "flag") else kept).append(entry)
        counts = {d: sum(e["decision"] == d for e in manifest["images"])
                  for d in ("label", "skip", "flag")}
        manifest.update(images=kept, reviewed=[e for e in kept if e["decision"] == "label"],
                        review={"finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                                **counts, "undecided": len(kept) - counts["label"],
                                "removed": removed})
        files.write_json(folder / "manifest.json", manifest)
        return manifest

    # ---- relabeling (the audit's suspects: accept, fix, send back)

    def replace_label(self, image: str | os.PathLike, labels: Labels, *, reason: str,
                      source: str = "widget", annotator: str | None = None,
                      round_number: int | None = None, audit: int | None = None) -> Path:
        """Replace the label of a labeled ``image`` with corrected ``labels``: the ledger
        moves the old label (row and file text) to its history and resolves the image's open
        relabel request in one transaction, then the label file is rewritten atomically.

        Args:
            image: the image's path as registered.
            labels: the corrected labels; checked like :meth:`store_label` (nothing is
                written on a problem: :class:`DatasetError` names every one).
            reason: why (kept in the history), e.g. ``"audit 2: swap fixed"``.
            source: the annotator that gave the correction (``"widget"``: the box editor).
            annotator: who, when known.
            round_number: the round whose annotation job brought it (None: outside a round).
            audit: the audit whose suspect this fixes (records a ``fix`` decision), or None.

        A replacement killed between the ledger and the file is completed by calling again
        with the same labels. Returns the label file.
        """
        image_id = self.ledger.image_ids([str(image)])[0]
        current = self.ledger.label_of(image_id)
        if current is None:
            raise LedgerError(f"{image}: no label to replace; import one first")
        fatal = self._label_problems(labels)
        if fatal:
            raise DatasetError(image, "label rejected, nothing written:\n" + "\n".join(fatal))
        text = datasets.format_labels(labels)
        label_path = Path(current["label_path"])
        old_text = label_path.read_text() if label_path.exists() else ""
        self.ledger.replace_label(
            image_id, old_text=old_text, source=source, annotator=annotator, reason=reason,
            label_hash=hashlib.sha256(text.encode()).hexdigest(), n_objects=len(labels),
            round_number=round_number, audit=audit)
        files.write_text_atomic(label_path, text)
        return label_path

    def send_back(self, image: str | os.PathLike | int, reason: str, *,
                  audit: int | None = None) -> int:
        """Send a labeled image back for relabeling with a ``reason`` the annotator reads:
        the first round still waiting for labels after the audited one carries it in its
        annotation job (every annotator: Label Studio, CVAT files, label files, the box
        editor), and the label that comes back replaces the old one (:meth:`replace_label`,
        history kept). The old label trains until then. ``image``: its path or ledger id;
        ``audit``: the audit it is a suspect of (records a ``send_back`` decision). Returns
        the request's id."""
        image_id = image if isinstance(image, int | np.integer) else \
            self.ledger.image_ids([str(image)])[0]
        request = self.ledger.request_relabel(image_id, reason, audit=audit)
        last = self.ledger.last_round()
        if last is not None and last.number > 0 and self._carry_relabels(last.number):
            self._stage(last.number)
        return request

    def accept_label(self, image_id: int, *, audit: int, note: str = "") -> None:
        """Record that the label of suspect ``image_id`` of audit ``audit`` stands (a person
        looked and agreed), with an optional ``note``."""
        self.ledger.record_audit_decision(audit, image_id, "accept", note)

    # ---- after deployment: production monitoring (alkit.loop.monitor)

    def monitor(self, batch, *, name: str | None = None, timestamps=None, model=None,
                imgsz: int | None = None, flag_threshold: float = 0.6, budget: int = 0,
                strategy: str = "least_confidence", measure: str | None = None,
                from_flagged: bool = True, random_state: int = 0,
                scoring: dict | None = None, progress: bool = False) -> dict:
        """Monitor one batch of production images with the deployed model, record it in the
        ledger (one transaction) and send ``budget`` of its images to the pool as the
        ``production`` source, where the next :meth:`run_round` can pick them; returns the
        batch's record (:func:`alkit.loop.monitor.monitor_batch`, which documents each step).

        Args:
            batch: a folder (the next day's folder), a ``.txt`` / ``.csv`` / ``.parquet``
                manifest (``path`` and optional ``timestamp``), or a list of paths.
            name: the batch's name (default: the folder's or manifest's name).
            timestamps: one ISO-8601 timestamp per image of a list.
            model: the deployed checkpoint (default: the last finished round's model).
            imgsz: the inference size (default: the size that model was trained at).
            flag_threshold: an image whose most confident box is below it is flagged.
            budget: images to send for relabeling (0: none).
            strategy: a strategy that needs no measured class quality (:data:`alkit.
                STRATEGIES`: ``least_confidence``, ``random``, ``coreset``, ``hybrid``,
                ``typiclust``), or a strategy object.
            measure: replaces the strategy's per-box measure (``None``: its own).
            from_flagged: choose only among flagged images.
            random_state: the seed of the strategy's random draws.
            scoring: ``score_pool``'s engine keywords (``engine="ray"``, ``address``,
                ``actors``, ``gpus_per_actor``; docs/distributed.md), default this process.
            progress: a progress bar while scoring.
        """
        from alkit.loop.monitor import monitor_batch

        return monitor_batch(self, batch, name=name, timestamps=timestamps, model=model,
                             imgsz=imgsz, flag_threshold=flag_threshold, budget=budget,
                             strategy=strategy, measure=measure, from_flagged=from_flagged,
                             random_state=random_state, scoring=scoring, progress=progress)

    def monitor_report(self, rule=None):
        """The monitored batches over time (:class:`alkit.loop.monitor.MonitorReport`: table,
        class mix, changed batches with their reasons, plots); ``rule``: the
        :class:`alkit.core.drift.ChangeRule` (default thresholds when None)."""
        from alkit.loop.monitor import monitor_report

        return monitor_report(self, rule=rule)

    # ---- the label audit (alkit.loop.audit)

    def audit(self, round: int | None = None, top: int | None = None, *,
              imgsz: int | None = None, high_probability_threshold: float | str = "precise",
              progress: bool = False):
        """Audit the labels imported in one round with ObjectLab (cleanlab) and record the
        audit in the ledger (one transaction); returns an :class:`alkit.loop.audit.
        AuditReport` (``table``, ``boxes``, ``summary()``, ``plot()``).

        The predictions are those of the round's ``model_before``, the model the round
        selected with, which did not train on the audited labels; they come from the
        project's scoring cache (the round's selection scored the pool with that model), and
        only images the cache lacks are scored (the report says how many).

        Args:
            round: the round whose labels to audit (default: the last finished round after
                the seed round).
            top: how many of the worst images the report's summary and plot show (default
                10); every image is recorded.
            imgsz: the prediction image size (default: the one the round used).
            high_probability_threshold: the confidence from which a prediction may reveal an
                overlooked box or a swapped class: ``"precise"`` (default: where the model's
                predictions on these images are 95% precise, at most cleanlab's 0.95) or a
                number (0.95: cleanlab's own; see :func:`alkit.core.audit.audit_labels`).
            progress: a progress bar if images must be scored.
        """
        from alkit.loop.audit import audit_round

        return audit_round(self, round, top, imgsz=imgsz, progress=progress,
                           high_probability_threshold=high_probability_threshold)

    def audit_report(self, number: int | None = None, *, top: int | None = None):
        """The :class:`alkit.loop.audit.AuditReport` of recorded audit ``number`` (default:
        the last one) without auditing again; ``top`` as in :meth:`audit`."""
        from alkit.loop.audit import load_report

        audits = self.ledger.audits()
        if not audits:
            raise LedgerError(f"{self.dir}: no audit recorded yet (Project.audit, alkit audit)")
        return load_report(self, audits[-1]["number"] if number is None else number, top=top)

    # ---- status

    def history(self) -> History:
        """The finished rounds as a :class:`alkit.History`."""
        done = [r for r in self.ledger.rounds() if r.status == "done"]
        return History(
            [r.n_labeled_after for r in done], [r.metrics_after["map50"] for r in done],
            {n: [r.metrics_after["ap50_per_class"].get(n, float("nan")) for r in done]
             for n in self.spec.names})

    def status(self) -> str:
        """The project in a few lines: rounds, counts, what is waiting (relabel requests
        included), the recommendation of the stopping engine
        (:func:`alkit.core.stopping.analyze`)."""
        counts = self.ledger.counts()
        lines = [f"project {self.dir}  (dataset {self.ledger.meta()['dataset_yaml']})",
                 "  " + ", ".join(f"{k} {v}" for k, v in counts.items()),
                 "  round  status      strategy          labeled  mAP50   mAP50-95"]
        for r in self.ledger.rounds():
            m = r.metrics_after or {}
            map50 = f"{m['map50']:.3f}" if "map50" in m else "  -  "
            map5095 = f"{m['map50_95']:.3f}" if "map50_95" in m else "  -  "
            name = r.strategy or "seed"
            lines.append(f"  {r.number:>5}  {r.status:<11} {name:<17} "
                         f"{r.n_labeled_after or r.n_labeled_before or 0:>7}  {map50}   "
                         f"{map5095}")
        last = self.ledger.last_round()
        if last is not None and last.status != "done":
            lines.append(f"  round {last.number} is {last.status}: "
                         f"{len(self.waiting(last.number))} image(s) waiting for labels in "
                         f"{self.round_dir(last.number)}")
        queued = [r for r in self.ledger.relabels(open_only=True) if r["round"] is None]
        if queued:
            lines.append(f"  {len(queued)} image(s) sent back for relabeling: the next round's "
                         "annotation job carries them")
        history = self.history()
        if history.n_rounds:
            analysis = analyze(history.labeled, history.metric, n_bootstrap=50,
                               history=history)
            lines += ["", analysis.summary()]
        return "\n".join(lines + self._monitor_status())

    def _monitor_status(self) -> list[str]:
        """A line on production monitoring (``alkit monitor``), when any batch is recorded:
        the last batch and the latest change the rule found."""
        if not self.ledger.monitor_batches():
            return []
        table = self.monitor_report().table
        last = table.iloc[-1]
        lines = ["", f"monitoring: {len(table)} batch(es); the last, {last['name']}: "
                     f"{last['flagged_rate']:.0%} flagged, {last['far_share']:.0%} far from the "
                     f"labeled set, {int(last['n_sent'])} sent for labels"]
        changed = table[table["changed"]]
        if len(changed):
            row = changed.iloc[-1]
            lines.append(f"  latest change: batch {int(row['batch'])} ({row['name']}): "
                         f"{row['reasons']} (alkit monitor --report)")
        return lines
