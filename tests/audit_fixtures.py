"""A project whose round 1 imported labels with known mistakes, and a scorer that sees the
truth: the label audit's tests (tests/loop/test_audit_round.py) and the suspects view's
(tests/ui/test_suspects.py) share it. No model is trained."""

from pathlib import Path

import numpy as np

from alkit import Project
from alkit.core.detections import Labels
from alkit.core.pool import PoolScores
from alkit.data import datasets

CONFIG = {"recipe": {"imgsz": 64, "device": "cpu"}, "query": {"conf_threshold": 0.25}}
N_AUDITED = 8


def finish_round(ledger, number, model_before, model_after):
    ledger.record_finished_round(number, strategy=None if number == 0 else "random", params={},
                                 model_before=model_before, model_before_hash=f"h-{model_before}",
                                 model_after=model_after, model_after_hash=f"h-{model_after}",
                                 metrics_after={"map50": 0.5, "ap50_per_class": {},
                                                "config": CONFIG})


def _faulty(truth: Labels, kind: str, n_classes: int) -> Labels:
    """The true labels with one mistake on the first object."""
    ids, boxes = truth.class_ids.copy(), truth.xywhn.copy()
    if kind == "dropped":
        return Labels(ids[1:], boxes[1:])
    if kind == "swapped":
        ids[0] = (ids[0] + 1) % n_classes
    else:  # shifted by 80% of the box: the label lies beside its object
        boxes[0, :2] += 0.8 * boxes[0, 2:]
        boxes[0, :2] = np.clip(boxes[0, :2], boxes[0, 2:] / 2, 1 - boxes[0, 2:] / 2)
    return Labels(ids, boxes)


def audited_project(tiny_dataset, tmp_path, monkeypatch):
    """A project whose round 1 imported 8 pool labels, 3 of them faulty (a dropped box, a
    swapped class, a shifted box), with scoring replaced by the true objects at confidence
    0.97 (none for the last image). Returns ``(project, truth, kinds, calls)``: the true labels
    by path, the three faulty paths by kind, the calls to the scorer."""
    project = Project.init(tmp_path / "p", tiny_dataset / "dataset.yaml")
    finish_round(project.ledger, 0, "start.pt", "seed.pt")
    finish_round(project.ledger, 1, "seed.pt", "round1.pt")
    spec, n_classes = project.spec, len(project.spec.names)
    pool = [r["path"] for r in project.ledger.images(split="pool")]
    truth = {}
    for path in pool:  # images with at least two objects
        labels = datasets.read_labels(datasets.split_label_path(spec, "pool", Path(path)),
                                      n_classes)
        if len(labels) >= 2:
            truth[path] = labels
        if len(truth) == N_AUDITED:
            break
    kinds = dict(zip(list(truth)[:3], ("dropped", "swapped", "shifted"), strict=True))
    for path, labels in truth.items():
        given = _faulty(labels, kinds[path], n_classes) if path in kinds else labels
        project._store_label(path, given, round_number=1, source="oracle")
    calls = []
    no_predictions = list(truth)[-1]

    def fake_score_pool(model, paths, **kwargs):
        calls.append({"model": model, "paths": list(paths), **kwargs})
        good = [p for p in paths if p not in kwargs.get("_skip", ())]
        per_image = [truth[p].to_detections((128, 128)) if p != no_predictions else None
                     for p in good]
        counts = [0 if d is None else len(d) for d in per_image]
        xyxy = np.concatenate([np.zeros((0, 4)), *(d.xyxy for d in per_image if d is not None)]
                              ).astype(np.float32)
        classes = np.concatenate([np.zeros(0, np.int64),
                                  *(d.class_id for d in per_image if d is not None)])
        class_scores = np.full((len(classes), n_classes), 0.01, np.float32)
        class_scores[np.arange(len(classes)), classes] = 0.97
        n = len(good)
        return PoolScores(
            paths=good, hashes=np.array(good), heights=np.full(n, 128),
            widths=np.full(n, 128), box_offsets=np.concatenate([[0], np.cumsum(counts)]),
            box_xyxy=xyxy, box_confidence=class_scores.max(axis=1), box_class=classes,
            box_class_scores=class_scores, embeddings=np.zeros((n, 2), np.float32),
            names=tuple(spec.names), skipped=[(p, "unreadable") for p in paths if p not in good],
            meta={"run": {"n_inferred": 0}})

    monkeypatch.setattr("alkit.model.scoring.score_pool", fake_score_pool)
    monkeypatch.setattr("alkit.model.yolo.class_names", lambda model: tuple(spec.names))
    return project, truth, kinds, calls
