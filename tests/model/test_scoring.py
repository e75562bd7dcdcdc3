"""score_pool: one pass equals Ultralytics' own outputs; cache, resume after SIGKILL, bad images."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pausing import kill, pause_env, wait_for_pause

from alkit.core import uncertainty
from alkit.data import datasets
from alkit.data.scorefile import load_scores, save_scores
from alkit.model import records, scoring, yolo

pytestmark = pytest.mark.slow
CONF = 0.001  # low, so that even an untrained model keeps boxes to compare


def _score(weights, images, cache, **kwargs):
    kwargs = {"imgsz": 96, "batch": 8, "conf": CONF, "cache_dir": cache, "progress": False,
              **kwargs}
    return scoring.score_pool(weights, images, **kwargs)


def _bgr(paths):
    return [np.ascontiguousarray(datasets.load_rgb(p)[..., ::-1]) for p in paths]


@pytest.mark.parametrize("start", ["pretrained", "yolov8n.yaml", "yolo11n.yaml", "yolo26n.yaml"])
def test_class_vectors_match_ultralytics_own_conf_and_cls(start, pool, weights):
    """Our one pass vs a plain, separate Ultralytics predict on the same pixels."""
    conf = CONF if start == "pretrained" else 1e-5  # random init: tiny scores
    model = yolo.YOLO(weights if start == "pretrained" else start)
    images = _bgr(pool[:6])
    with yolo.OnePassScorer(model, imgsz=96, conf=conf) as scorer:
        ours = scorer(images)
    # the same weights (a yaml builds new random ones each time), Ultralytics' own predictor
    reference = model.predict(images, imgsz=96, conf=conf, max_det=100, verbose=False)
    assert not hasattr(reference[0], "alkit_class_scores")
    assert sum(len(o.confidence) for o in ours) > 0
    for mine, theirs in zip(ours, reference, strict=True):
        np.testing.assert_allclose(mine.class_scores.max(axis=1), theirs.boxes.conf.numpy(),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(mine.class_scores.argmax(axis=1), theirs.boxes.cls.numpy())
        np.testing.assert_allclose(mine.xyxy, theirs.boxes.xyxy.numpy(), atol=1e-3)
        assert mine.class_scores.shape[1] == len(model.names)


@pytest.mark.parametrize("layer", [None, 4])
def test_embedding_equals_a_separate_backbone_pass(layer, pool, weights):
    images = _bgr(pool[:5])
    with yolo.OnePassScorer(weights, imgsz=96, conf=CONF, embed_layer=layer) as scorer:
        ours = np.stack([o.embedding for o in scorer(images)])
        used = scorer.embed_layer
    assert used == (9 if layer is None else layer)
    separate = yolo.YOLO(weights).predict(images, imgsz=96, embed=[used], verbose=False)
    np.testing.assert_allclose(ours, np.stack([t.numpy() for t in separate]), rtol=1e-4,
                               atol=1e-5)


def test_hooks_are_removed_and_a_plain_predict_afterwards_is_unchanged(pool, weights):
    model = yolo.YOLO(weights)
    before = model.predict(pool[:2], imgsz=96, conf=0.01, verbose=False)
    with yolo.OnePassScorer(model, imgsz=96, conf=CONF) as scorer:
        scorer(_bgr(pool[:2]))
    assert not scorer.network.model[scorer.embed_layer]._forward_hooks
    after = model.predict(pool[:2], imgsz=96, conf=0.01, verbose=False)
    assert not hasattr(after[0], "alkit_class_scores")
    np.testing.assert_allclose(before[0].boxes.conf.numpy(), after[0].boxes.conf.numpy())


def test_pool_scores_table_and_measures(pool, weights, tmp_path):
    scores = _score(weights, pool, tmp_path / "cache", conf_threshold=0.01)
    assert len(scores) == len(pool) and scores.paths == pool
    assert scores.names == tuple(yolo.YOLO(weights).names.values())
    table = scores.table
    assert list(table["path"]) == pool
    assert table["hash"][0] == datasets.file_sha256(pool[0])
    assert (table["height"] == 128).all() and scores.embeddings.shape == (len(pool), 256)
    for i in (0, 7, 30):
        d = scores.detections(i)
        assert table["n_boxes"][i] == len(d)
        expected = 1 - d.confidence.min() if len(d) else 1.0
        assert table["least_confidence_max"][i] == pytest.approx(expected, abs=1e-6)
    assert (table["flagged"] == (table["max_confidence"] < 0.6)).all()
    for measure in uncertainty.MEASURES:
        assert {f"{measure}_{s}" for s, _ in uncertainty.TABLE_REDUCTIONS} <= set(table.columns)
    assert scores.class_breakdown().shape == (len(pool), scores.n_classes)
    assert {f"candidate_{m}" for m in uncertainty.MEASURES} | {"expected_boxes"} <= set(
        table.columns)
    assert scores.box_features.shape == (len(scores.box_confidence), yolo.BOX_FEATURE_DIM)
    assert scores.box_features.dtype == np.float16 and np.isfinite(scores.box_features).all()


def test_box_features_are_the_neck_read_at_each_box_anchor(weights):
    """The projected per-box features equal the neck maps read at the box's own anchor."""
    import torch

    feats = [torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4),
             torch.arange(2 * 2 * 2, dtype=torch.float32).view(1, 2, 2, 2) + 100]
    # anchor 5 is level 0, row 1, column 1 (centre 12, 12 at stride 8): level 1 cell (0, 0)
    got = yolo.box_features_at(feats, 0, torch.tensor([5, 16 + 3]), [8, 16])
    assert got[0].tolist() == [5.0, 21.0, 100.0, 104.0]
    assert got[1].tolist() == [15.0, 31.0, 103.0, 107.0]  # level 1 (1, 1) -> level 0 (3, 3)
    projection = yolo.box_feature_projection(448)
    assert projection.shape == (448, yolo.BOX_FEATURE_DIM)
    assert np.array_equal(projection, yolo.box_feature_projection(448))


def test_rescoring_an_unchanged_pool_does_no_inference(pool, weights, tmp_path):
    first = _score(weights, pool, tmp_path / "cache")
    assert first.meta["run"]["n_inferred"] == len(pool)
    again = _score(weights, pool, tmp_path / "cache")
    assert again.meta["run"]["n_inferred"] == 0 and again.meta["run"]["n_cached"] == len(pool)
    for name in ("box_offsets", "box_class_scores", "embeddings", "box_xyxy"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert len(list(Path(first.meta["run"]["cache_dir"]).glob("shard-*.npz"))) == 1  # compacted


def test_new_images_are_the_only_ones_scored(pool, weights, tmp_path):
    _score(weights, pool[:40], tmp_path / "cache")
    grown = _score(weights, pool, tmp_path / "cache")
    assert grown.meta["run"]["n_inferred"] == len(pool) - 40
    moved = tmp_path / "elsewhere" / "renamed.jpg"
    moved.parent.mkdir()
    shutil.copyfile(pool[3], moved)
    with_copy = _score(weights, [*pool, str(moved)], tmp_path / "cache")
    assert with_copy.meta["run"]["n_inferred"] == 0  # same content, same key
    np.testing.assert_array_equal(with_copy.embeddings[-1], with_copy.embeddings[3])


def test_changing_settings_or_model_changes_the_cache_key(pool, weights, tmp_path):
    a = _score(weights, pool[:8], tmp_path / "cache")
    b = _score(weights, pool[:8], tmp_path / "cache", imgsz=64)
    c = _score("yolov8n.yaml", pool[:8], tmp_path / "cache")
    dirs = {s.meta["run"]["cache_dir"] for s in (a, b, c)}
    assert len(dirs) == 3 and b.meta["run"]["n_inferred"] == c.meta["run"]["n_inferred"] == 8


def test_identical_files_in_one_pool_are_inferred_once(pool, weights, tmp_path):
    twin = tmp_path / "twin.jpg"
    shutil.copyfile(pool[0], twin)
    scores = _score(weights, [pool[0], str(twin), pool[1]], tmp_path / "cache")
    assert scores.meta["run"]["n_inferred"] == 2 and len(scores) == 3


def test_bad_images_are_skipped_counted_and_listed(pool, weights, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "text.jpg").write_text("not an image at all")
    data = Path(pool[0]).read_bytes()
    (bad / "truncated.jpg").write_bytes(data[: len(data) // 2])
    images = [pool[0], str(bad / "empty.jpg"), str(bad / "text.jpg"), str(bad / "truncated.jpg"),
              str(bad / "missing.jpg"), pool[1]]
    scores = _score(weights, images, tmp_path / "cache")
    assert scores.paths == [pool[0], pool[1]]
    reasons = dict(scores.skipped)
    assert set(reasons) == set(images[1:5])
    assert "empty" in reasons[str(bad / "empty.jpg")]
    assert "does not decode" in reasons[str(bad / "text.jpg")]
    assert "truncated" in reasons[str(bad / "truncated.jpg")]
    assert "cannot read" in reasons[str(bad / "missing.jpg")]
    assert scores.meta["run"]["n_skipped"] == 4


def test_save_and_load_round_trip_without_ultralytics(pool, weights, tmp_path):
    scores = _score(weights, pool[:10], tmp_path / "cache")
    path = save_scores(scores, tmp_path / "scores.npz")
    code = (
        "import sys, json\nfrom alkit.data.scorefile import load_scores\n"
        f"s = load_scores({str(path)!r})\n"
        "print(json.dumps({'n': len(s), 'ultralytics': 'ultralytics' in sys.modules,"
        " 'lc': s.table['least_confidence_max'].tolist()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    loaded = json.loads(out.stdout)
    assert loaded["n"] == 10 and loaded["ultralytics"] is False, out.stderr
    np.testing.assert_allclose(loaded["lc"], scores.table["least_confidence_max"])
    back = load_scores(path)
    np.testing.assert_array_equal(back.box_class_scores, scores.box_class_scores)
    assert back.meta["model_hash"] == scores.meta["model_hash"] and back.names == scores.names


_KILLABLE = """
import sys
from alkit.model import scoring
paths = sys.argv[3:]
scoring.score_pool(sys.argv[1], paths, imgsz=320, batch=2, conf=0.001, cache_dir=sys.argv[2],
                   progress=False)
"""


def test_a_run_killed_with_sigkill_resumes_without_loss_or_duplicates(pool, weights, tmp_path):
    cache, pauses, log = tmp_path / "cache", tmp_path / "pauses", tmp_path / "child.log"
    with log.open("w") as out:  # paused right after its 4th shard is renamed into place
        process = subprocess.Popen([sys.executable, "-c", _KILLABLE, weights, str(cache), *pool],
                                   env=pause_env(pauses, "scoring.shard@4"), stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        assert wait_for_pause(pauses, "scoring.shard", process, log) == process.pid
    finally:
        kill(process)
    finished = records.ShardCache(next(cache.iterdir())).load()
    assert len(finished.shards()) == 4 and not finished.unreadable
    assert 0 < len(finished.records) < len(pool)
    resumed = scoring.score_pool(weights, pool, imgsz=320, batch=2, conf=0.001, cache_dir=cache,
                                 progress=False)
    assert resumed.meta["run"]["n_inferred"] == len(pool) - len(finished.records)
    reference = scoring.score_pool(weights, pool, imgsz=320, batch=2, conf=0.001,
                                   cache_dir=tmp_path / "reference", progress=False)
    assert resumed.paths == reference.paths
    for name in ("box_offsets", "box_class_scores", "embeddings"):
        np.testing.assert_allclose(getattr(resumed, name), getattr(reference, name), atol=1e-5)


def test_empty_pool_gives_empty_scores(weights, tmp_path):
    scores = _score(weights, [], tmp_path / "cache")
    assert len(scores) == 0 and scores.table.empty
