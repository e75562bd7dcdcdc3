"""Active-learning rounds over a project directory: select, stage, annotate, import, train,
evaluate, record; resumable at every step.

Project layout::

    <project>/project.db                 the ledger (alkit.ledger)
    <project>/train/images/<id>_<name>   links to every labeled image (seed and imported)
    <project>/train/labels/<id>_<stem>.txt   their YOLO labels
    <project>/train/dataset.yaml         train: the labeled list; val / test: the dataset's
    <project>/rounds/round_NNN/          staged images (links), manifest.json, labels/ (drop
                                         annotations here for the "folder" annotator)
    <project>/runs/                      training runs;  <project>/scores/  the scoring cache

Round 0 trains the seed model on the seed split. Each later round: score the unlabeled pool
with the previous round's model, select ``budget`` images, record the queries (one
transaction) and stage them with a manifest (round, query count, image list, mAP50 before
annotation), get their labels (the simulated annotator, or label files dropped into the
round's ``labels/`` folder), import them (validated as a whole first: a corrupt or
out-of-bounds file imports nothing), train, evaluate on the fixed test split, record.

**Training default: warm start** from the previous round's best checkpoint (``warm_start=True``):
each round fine-tunes a model that already knows the data, so a CPU round costs a few epochs
instead of a full training; ``warm_start=False`` restarts every round from the same initial
checkpoint, which makes rounds comparable on equal terms (what benchmarks use). Mixup is only
switched on from round 3 (the classic recipe: "a little mixup only after round 2").

Re-running a round after a crash continues from the ledger's last committed step.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from alkit.data import datasets
from alkit.data.datasets import DatasetError, Labels
from alkit.loop.ledger import Ledger, LedgerError, RoundRecord


@dataclass(frozen=True)
class RoundConfig:
    """Knobs of one round (classic recipe defaults scaled for a CPU; see :data:`TRAIN_PRESETS`)."""

    strategy: str = "two_stage"
    budget: int = 100
    measure: str = "least_confidence_mean3"
    epochs: int = 30
    imgsz: int = 128
    batch: int = 16
    mosaic: float = 1.0
    mixup: float = 0.1
    close_mosaic: int = 10
    warm_start: bool = True
    initial_weights: str | None = None
    seed: int = 0
    workers: int = 2
    strategy_params: dict = field(default_factory=dict)
    #: > 0: query-by-committee. Before selecting, this many members are fine-tuned from the
    #: previous round's model on bootstrap resamples of the labeled set (same recipe, one
    #: training each), score the pool, and their disagreement replaces ``measure`` as the
    #: strategy's uncertainty (:func:`alkit.committee.committee_disagreement`).
    committee_members: int = 0


TRAIN_PRESETS = {
    "tiny": {"epochs": 2, "imgsz": 64, "batch": 8, "close_mosaic": 0, "workers": 0},
    "cpu": {"epochs": 30, "imgsz": 128, "batch": 16},
    "classic": {"epochs": 80, "imgsz": 640, "batch": 16},
}


class Project:
    """An active-learning project directory with its ledger."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory).resolve()
        self.ledger = Ledger(self.dir)
        self.spec = datasets.read_dataset_yaml(self.ledger.meta()["dataset_yaml"])

    @classmethod
    def init(cls, directory: str | os.PathLike, dataset_yaml: str | os.PathLike) -> Project:
        """Create the ledger, register the pool (unlabeled) and the seed split (labeled)."""
        spec = datasets.read_dataset_yaml(dataset_yaml)
        if "pool" not in spec.splits:
            raise DatasetError(dataset_yaml, "an active-learning project needs a 'pool' split "
                               "(the unlabeled images)")
        ledger = Ledger.create(directory, dataset_yaml=dataset_yaml, names=spec.names)
        pool = datasets.list_images(spec.splits["pool"])
        ledger.add_images(((str(p), datasets.file_sha256(p)) for p in pool), split="pool")
        seed = datasets.read_split(spec, "train")
        ledger.add_images(((str(p), datasets.file_sha256(p)) for p, _ in seed), split="seed")
        ledger.close()
        project = cls(directory)
        for image, labels in seed:
            project._store_label(image, labels, round_number=0, source="seed")
        return project

    def close(self) -> None:
        """Close the project's ledger."""
        self.ledger.close()

    # ---- labeled set on disk

    def _train_paths(self, image_id: int, image: Path) -> tuple[Path, Path]:
        name = f"{image_id:06d}_{image.name}"
        return (self.dir / "train" / "images" / name,
                self.dir / "train" / "labels" / f"{Path(name).stem}.txt")

    def _store_label(self, image: Path, labels: Labels, *, round_number: int, source: str,
                     annotator: str | None = None) -> bool:
        """Link the image into the labeled set, write its label file, record it (idempotent)."""
        image_id = self.ledger.image_ids([str(image)])[0]
        link, label_path = self._train_paths(image_id, Path(image))
        _link(Path(image), link)
        text = datasets.format_labels(labels)
        datasets.write_text_atomic(label_path, text)
        return self.ledger.record_label(
            image_id, round_number=round_number, source=source, label_path=str(label_path),
            label_hash=hashlib.sha256(text.encode()).hexdigest(), n_objects=len(labels),
            annotator=annotator)

    def training_yaml(self) -> Path:
        """A dataset yaml whose train split is exactly the ledger's labeled set."""
        images = [self._train_paths(r["image_id"], Path(r["path"]))[0]
                  for r in self.ledger.labeled()]
        listing = self.dir / "train" / "labeled.txt"
        datasets.write_text_atomic(listing, "".join(f"{p}\n" for p in images))
        splits = {"train": str(listing), "val": str(self.spec.splits["val"])}
        if "test" in self.spec.splits:
            splits["test"] = str(self.spec.splits["test"])
        return datasets.write_dataset_yaml(self.dir / "train" / "dataset.yaml", self.spec.names,
                                           splits, comment="generated by alkit from the ledger")

    # ---- rounds

    def run_round(self, config: RoundConfig = RoundConfig(), *, annotator: str = "oracle",
                  oracle=None, labelstudio=None, progress: bool = True) -> RoundRecord:
        """Run (or resume) the next round; returns its record.

        ``annotator``: ``"oracle"`` (the benchmark's hidden labels, ``oracle=`` to add noise),
        ``"folder"`` (label files dropped into the round's ``labels/``) or ``"labelstudio"``
        (``labelstudio=`` an :class:`alkit.labelstudio.LabelStudio`: tasks with the model's
        boxes are pushed once, finished annotations pulled on every call). A round whose
        labels have not all arrived stays open (status ``annotating``); call again later."""
        last = self.ledger.last_round()
        if last is None:
            return self._seed_round(config)
        if last.number == 0 and last.status != "done":
            return self._train_round(last, config)
        if last.status == "done":
            self._select_and_stage(last, config, progress)
        elif last.status == "selecting":  # killed before its queries were committed
            self._select_and_stage(self.ledger.rounds()[-2], config, progress, reuse=last)
        elif (last.status == "staged"  # killed while staging: staging is idempotent
              and not (self.round_dir(last.number) / "manifest.json").exists()):
            self._stage(last.number)
        last = self.ledger.last_round()
        if last.status in ("staged", "annotating"):
            self.ledger.set_round_status(last.number, "annotating")
            if not self._annotate(last.number, annotator, oracle, labelstudio, config):
                return self.ledger.last_round()
            self.ledger.set_round_status(last.number, "training")
        return self._train_round(self.ledger.last_round(), config)

    def _seed_round(self, config: RoundConfig) -> RoundRecord:
        from alkit.model import yolo

        start = config.initial_weights or yolo.default_start_weights()
        self.ledger.start_round(0, strategy=None, params={}, model_before=start,
                                model_before_hash=yolo.weights_hash(start), metrics_before=None)
        self.ledger.set_round_status(0, "training")
        return self._train_round(self.ledger.last_round(), config)

    def _select_and_stage(self, previous: RoundRecord, config: RoundConfig, progress: bool,
                          reuse: RoundRecord | None = None) -> None:
        from alkit.core import selection
        from alkit.model import scoring

        number = previous.number + 1
        if reuse is None:
            self.ledger.start_round(
                number, strategy=config.strategy,
                params={"budget": config.budget, "measure": config.measure,
                        **({"committee_members": config.committee_members}
                           if config.committee_members else {}),
                        **config.strategy_params},
                model_before=previous.model_after, model_before_hash=previous.model_after_hash,
                metrics_before=previous.metrics_after)
        unlabeled = self.ledger.images(state="unlabeled", split="pool")
        if not unlabeled:
            raise LedgerError("the pool has no unlabeled image left to query")
        scores = scoring.score_pool(previous.model_after, [r["path"] for r in unlabeled],
                                    imgsz=config.imgsz, cache_dir=self.dir / "scores",
                                    progress=progress)
        ids = {r["path"]: r["id"] for r in unlabeled}
        disagreement = (self._committee_disagreement(number, previous, config, scores.paths,
                                                     progress)
                        if config.committee_members else None)
        picked = selection.select_from_scores(
            scores, config.strategy, config.budget, measure=config.measure,
            class_counts=self._class_counts(), random_state=config.seed + number,
            uncertainty_N=disagreement, **config.strategy_params)
        self.ledger.record_queries(number, [ids[scores.paths[i]] for i in picked.indices],
                                   picked.scores, picked.reasons)
        self._stage(number)

    def _committee_disagreement(self, number: int, previous: RoundRecord, config: RoundConfig,
                                paths, progress: bool) -> np.ndarray:
        """(N,) committee disagreement over ``paths`` (see ``RoundConfig.committee_members``).
        Members train under ``runs/round_NNN_committee``; a round killed while its committee
        trains retrains it when resumed."""
        from alkit.model import committee, scoring

        members = committee.train_committee(
            self.training_yaml(), n_members=config.committee_members,
            weights=previous.model_after, epochs=config.epochs, imgsz=config.imgsz,
            batch=config.batch, runs_dir=self.dir / "runs" / f"round_{number:03d}_committee",
            random_state=config.seed + 1000 * number, workers=config.workers,
            mosaic=config.mosaic, close_mosaic=config.close_mosaic)
        member_scores = [scoring.score_pool(m, list(paths), imgsz=config.imgsz,
                                            cache_dir=self.dir / "scores", progress=progress)
                         for m in members]
        return committee.committee_disagreement(member_scores)

    def _class_counts(self) -> np.ndarray:
        counts = np.zeros(len(self.spec.names), dtype=np.int64)
        for row in self.ledger.labeled():
            labels = datasets.read_labels(row["label_path"], len(self.spec.names))
            counts += np.bincount(labels.class_ids, minlength=len(counts))
        return counts

    def round_dir(self, number: int) -> Path:
        """``<project>/rounds/round_NNN``: the staged images, manifest and dropped labels."""
        return self.dir / "rounds" / f"round_{number:03d}"

    def _stage(self, number: int) -> Path:
        """Links to the round's images plus ``manifest.json`` (rewritten on resume)."""
        folder = self.round_dir(number)
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "labels").mkdir(exist_ok=True)
        queries = self.ledger.queries(number)
        for q in queries:
            name = f"{q['image_id']:06d}_{Path(q['path']).name}"
            _link(Path(q["path"]), folder / "images" / name)
        record = next(r for r in self.ledger.rounds() if r.number == number)
        manifest = {
            "round": number, "query_count": len(queries), "strategy": record.strategy,
            "params": record.params,
            "map50_before": (record.metrics_before or {}).get("map50"),
            "model_before": record.model_before,
            "images": [{"rank": q["rank"], "path": q["path"], "staged": f"{q['image_id']:06d}_"
                        f"{Path(q['path']).name}", "score": q["score"], "reason": q["reason"]}
                       for q in queries],
        }
        datasets.write_text_atomic(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        return folder

    def _annotate(self, number: int, annotator: str, oracle, labelstudio, config) -> bool:
        """Import the labels of the round's queries; True when every query is labeled."""
        waiting = self.waiting(number)
        if annotator == "labelstudio":
            if labelstudio is None:
                raise ValueError("the labelstudio annotator needs labelstudio=LabelStudio(...)")
            return self.sync_labelstudio(number, labelstudio, config) == 0
        if annotator == "oracle":
            if oracle is None:
                from alkit.annotate.simulated import Oracle

                oracle = Oracle(self.ledger.meta()["dataset_yaml"])
            for q in waiting:
                self._store_label(Path(q["path"]), oracle.answer(q["path"]),
                                  round_number=number, source="oracle", annotator="oracle")
            return True
        if annotator == "folder":
            arrived = self.import_folder(number)
            return arrived == len(waiting)
        raise ValueError(f"unknown annotator {annotator!r}; expected 'oracle', 'folder' or "
                         "'labelstudio'")

    def sync_labelstudio(self, number: int, client, config: RoundConfig = RoundConfig()) -> int:
        """Push the round's images that Label Studio does not have yet (tasks with the model's
        boxes as predictions), pull what annotators finished, import it. Returns how many
        images are still waiting."""
        from alkit.annotate import labelstudio
        from alkit.model import scoring

        record = next(r for r in self.ledger.rounds() if r.number == number)
        queries = self.ledger.queries(number)
        version = f"alkit-round{number}-{(record.model_before_hash or '')[:8]}"
        project_id = client.project(f"alkit {self.dir.name}", self.spec.names)
        present = {t["data"].get("alkit_path") for t in client.tasks(project_id)}
        missing = [q for q in self.waiting(number) if q["path"] not in present]
        if missing:
            scores = scoring.score_pool(record.model_before, [q["path"] for q in missing],
                                        imgsz=config.imgsz, cache_dir=self.dir / "scores",
                                        progress=False)
            tasks = [labelstudio.make_task(
                path, labelstudio.local_files_url(path, client.document_root), scores.detections(i),
                self.spec.names, int(scores.widths[i]), int(scores.heights[i]), version,
                float(scores.table["least_confidence_mean3"][i]))
                for i, path in enumerate(scores.paths)]
            client.push(project_id, tasks, model_version=version)
        finished = client.pull(project_id, self.spec.names)
        for q in queries:
            if q["state"] == "queried" and q["path"] in finished:
                labels, annotator = finished[q["path"]]
                self._store_label(Path(q["path"]), labels, round_number=number,
                                  source="labelstudio", annotator=annotator)
        return len(self.waiting(number))

    def waiting(self, number: int) -> list[dict]:
        """Round ``number``'s picks still waiting for a label: neither labeled nor skipped /
        flagged in review (:meth:`record_review`)."""
        return [q for q in self.ledger.queries(number) if q["state"] == "queried"]

    def import_folder(self, number: int) -> int:
        """Import label files dropped into ``round_NNN/labels/`` (named like the staged
        images, ``.txt``). All present files are validated first; any fatal problem raises
        :class:`DatasetError` listing them all and imports nothing. Returns how many were
        imported."""
        folder = self.round_dir(number) / "labels"
        parsed, problems = [], []
        for q in self.ledger.queries(number):
            if q["state"] != "queried":  # labeled, or skipped / flagged in review
                continue
            path = folder / f"{q['image_id']:06d}_{Path(q['path']).stem}.txt"
            if not path.exists():
                continue
            labels, issues = datasets.parse_label_text(path.read_text(encoding="utf-8"),
                                                       len(self.spec.names))
            problems += [f"{path}:{p.line}: {p.message}" for p in issues if p.fatal]
            parsed.append((q, labels))
        if problems:
            raise DatasetError(folder, "annotations rejected, nothing imported:\n"
                               + "\n".join(problems))
        for q, labels in parsed:
            self._store_label(Path(q["path"]), labels, round_number=number, source="folder")
        return len(parsed)

    def _train_round(self, record: RoundRecord, config: RoundConfig) -> RoundRecord:
        from alkit.model import yolo

        previous = [r for r in self.ledger.rounds() if r.number < record.number]
        if config.warm_start and previous:
            weights = previous[-1].model_after
        else:
            weights = config.initial_weights or yolo.default_start_weights()
        data = self.training_yaml()
        mixup = config.mixup if record.number >= 3 else 0.0
        result = yolo.train(data, weights=weights, epochs=config.epochs, imgsz=config.imgsz,
                            batch=config.batch, seed=config.seed, runs_dir=self.dir / "runs",
                            name=f"round_{record.number:03d}", workers=config.workers,
                            mosaic=config.mosaic, mixup=mixup, close_mosaic=config.close_mosaic)
        split = "test" if "test" in self.spec.splits else "val"
        test = yolo.evaluate(result.best, data, split=split, imgsz=config.imgsz,
                             runs_dir=self.dir / "runs")
        metrics = {"split": split, "map50": test.map50, "map50_95": test.map50_95,
                   "ap50_per_class": test.ap50_per_class, "train_seconds": result.seconds,
                   "config": asdict(config)}
        self.ledger.finish_round(record.number, model_after=str(result.best),
                                 model_after_hash=yolo.weights_hash(str(result.best)),
                                 metrics_after=metrics)
        return self.ledger.last_round()

    # ---- review and in-notebook annotation (used by alkit.review and alkit.widgets)

    def stage_round(self, config: RoundConfig = RoundConfig(), *,
                    progress: bool = True) -> RoundRecord:
        """Score, select and stage the next round without annotating it, so that a person can
        review the picks first (``alkit.widgets.ReviewGrid``). Returns the round's record
        (status ``staged``). A round already staged or waiting for labels is returned as it
        is; one killed while selecting is finished. Needs a finished seed round."""
        last = self.ledger.last_round()
        if last is None or (last.number == 0 and last.status != "done"):
            raise LedgerError("stage_round needs a finished seed round: call run_round first")
        if last.status == "done":
            self._select_and_stage(last, config, progress)
        elif last.status == "selecting":  # killed before its queries were committed
            self._select_and_stage(self.ledger.rounds()[-2], config, progress, reuse=last)
        elif last.status == "training":
            raise LedgerError(f"round {last.number} is training: finish it with run_round")
        elif not (self.round_dir(last.number) / "manifest.json").exists():
            self._stage(last.number)  # killed while staging
        return self.ledger.last_round()

    def round_scores(self, number: int, paths=None, *, imgsz: int | None = None,
                     progress: bool = False):
        """Scores (:class:`alkit.PoolScores`) of ``paths`` (default: every image of the
        project, seed and pool) by the model round ``number`` selected with, through the
        project's scoring cache: the images that round scored cost no new inference.
        ``imgsz`` defaults to the image size that model was trained at."""
        from alkit.model import scoring

        record = self._round(number)
        if record.model_before is None:
            raise LedgerError(f"round {number} has no model to score with (the seed round)")
        if imgsz is None:
            imgsz = ((record.metrics_before or {}).get("config") or {}).get("imgsz")
        if imgsz is None:
            raise ValueError(f"round {number}: the model's image size is not recorded; "
                             "pass imgsz=")
        paths = [r["path"] for r in self.ledger.images()] if paths is None else paths
        return scoring.score_pool(record.model_before, [str(p) for p in paths], imgsz=imgsz,
                                  cache_dir=self.dir / "scores", progress=progress)

    def _round(self, number: int) -> RoundRecord:
        found = [r for r in self.ledger.rounds() if r.number == number]
        if not found:
            raise LedgerError(f"{self.dir}: no round {number} in the ledger")
        return found[0]

    def _image_state(self, image_id: int) -> str:
        row = self.ledger.conn.execute("SELECT state FROM images WHERE id = ?",
                                       (image_id,)).fetchone()
        if row is None:
            raise LedgerError(f"image {image_id}: not in the ledger")
        return row[0]

    def store_label(self, image: str | os.PathLike, labels: Labels, *, round_number: int,
                    source: str = "widget", annotator: str | None = None) -> Path:
        """Add one image's label to the labeled set: the YOLO label file is written atomically
        and recorded in the ledger at once (``source`` ``"widget"`` for the box editor).
        Class ids must index the dataset's names and boxes lie inside the image; otherwise
        :class:`DatasetError` names every problem and nothing is written. An image that
        already has a label is refused (:class:`LedgerError`). Returns the label file."""
        image_id = self.ledger.image_ids([str(image)])[0]
        if self._image_state(image_id) == "labeled":
            raise LedgerError(f"{image}: already labeled; a label is never imported twice")
        _, problems = datasets.parse_label_text(datasets.format_labels(labels),
                                                len(self.spec.names))
        fatal = [f"object {p.line}: {p.message}" for p in problems if p.fatal]
        if fatal:
            raise DatasetError(image, "label rejected, nothing written:\n" + "\n".join(fatal))
        self._store_label(Path(image), labels, round_number=round_number, source=source,
                          annotator=annotator)
        return self._train_paths(image_id, Path(image))[1]

    def record_review(self, image_id: int, decision: str, *, round_number: int,
                      note: str = "") -> None:
        """Record a review decision (``"label"``: send to labeling, ``"skip"``: uninformative
        or duplicate, ``"flag"``: broken or out of scope) on one of round ``round_number``'s
        picks, written to the ledger at once. The latest decision counts: a skipped or
        flagged image sent to labeling after all is queried again. Labeled images are
        refused (their review is over)."""
        if decision not in ("label", "skip", "flag"):
            raise ValueError(f"unknown decision {decision!r}; expected 'label', 'skip' or 'flag'")
        picked = {q["image_id"]: q for q in self.ledger.queries(round_number)}
        if image_id not in picked:
            raise LedgerError(f"image {image_id} was not picked in round {round_number}")
        if picked[image_id]["state"] == "labeled":
            raise LedgerError(f"{picked[image_id]['path']}: already labeled; its review is over")
        self.ledger.record_decision(image_id, decision, round_number=round_number, note=note)
        if decision == "label":
            self._requeue([image_id])

    def _requeue(self, image_ids) -> None:
        """Skipped or flagged images sent to labeling after all become queried again."""
        with self.ledger.conn:
            self.ledger.conn.executemany(
                "UPDATE images SET state = 'queried' WHERE id = ? AND state IN "
                "('skipped', 'flagged')", [(i,) for i in image_ids])

    def review_history(self, number: int) -> list[dict]:
        """Every review decision of round ``number`` in the order made: dicts with
        ``image_id``, ``decision``, ``note``, ``decided_at``."""
        rows = self.ledger.conn.execute(
            "SELECT image_id, decision, note, decided_at FROM decisions WHERE round = ? "
            "ORDER BY id", (number,))
        cols = ("image_id", "decision", "note", "decided_at")
        return [dict(zip(cols, row, strict=True)) for row in rows]

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
        from datetime import UTC, datetime

        decisions = self.review_decisions(number)
        self._requeue([i for i, d in decisions.items() if d == "label"])
        folder = self._stage(number)  # the full staged set again, then the review applied
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
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
        datasets.write_text_atomic(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        return manifest

    # ---- status

    def history(self):
        """The finished rounds as an :class:`alkit.stopping.History`."""
        from alkit.core.stopping import History

        done = [r for r in self.ledger.rounds() if r.status == "done"]
        names = self.spec.names
        return History(
            [r.n_labeled_after for r in done], [r.metrics_after["map50"] for r in done],
            {n: [r.metrics_after["ap50_per_class"].get(n, float("nan")) for r in done]
             for n in names})

    def status(self) -> str:
        """The project in a few lines: rounds, counts, what is waiting, the recommendation."""
        from alkit.core import curves

        counts = self.ledger.counts()
        lines = [f"project {self.dir}  (dataset {self.ledger.meta()['dataset_yaml']})",
                 "  " + ", ".join(f"{k} {v}" for k, v in counts.items()),
                 "  round  status      strategy    labeled  mAP50   mAP50-95"]
        for r in self.ledger.rounds():
            m = r.metrics_after or {}
            map50 = f"{m['map50']:.3f}" if "map50" in m else "  -  "
            map5095 = f"{m['map50_95']:.3f}" if "map50_95" in m else "  -  "
            lines.append(f"  {r.number:>5}  {r.status:<11} {r.strategy or 'seed':<11} "
                         f"{r.n_labeled_after or r.n_labeled_before or 0:>7}  {map50}   "
                         f"{map5095}")
        last = self.ledger.last_round()
        if last is not None and last.status != "done":
            waiting = self.waiting(last.number)
            lines.append(f"  round {last.number} is {last.status}: {len(waiting)} image(s) "
                         f"waiting for labels in {self.round_dir(last.number)}")
        history = self.history()
        if history.n_rounds:
            analysis = curves.analyze(history.labeled, history.metric, n_bootstrap=50)
            lines += ["", analysis.summary()]
        return "\n".join(lines)


def _link(source: Path, link: Path) -> None:
    """A symlink to ``source`` (a copy where links are not allowed); replaced if stale."""
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.is_symlink() and Path(os.readlink(link)) == source.resolve():
            return
        link.unlink()
    try:
        link.symlink_to(source.resolve())
    except OSError:
        shutil.copyfile(source, link)
