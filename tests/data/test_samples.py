"""The sample benchmark generator: determinism, disjoint splits, frequencies, label accuracy."""

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alkit.data import datasets, samples
from alkit.data.samples import CONFIG, build_samples


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".cache"}


def test_same_seed_gives_byte_identical_output(tiny_dataset, tmp_path):
    again = build_samples("tiny", tmp_path / "again", random_state=0, progress=False).out
    assert _digest(again) == _digest(tiny_dataset)
    other = build_samples("tiny", tmp_path / "other", random_state=1, progress=False).out
    differing = {k for k, v in _digest(other).items() if _digest(again).get(k) != v}
    assert len(differing) > 100


def test_layout_counts_and_hidden_pool_labels(tiny_dataset):
    counts = samples.PRESETS["tiny"].n_images
    for split in samples.SPLITS:
        assert len(list((tiny_dataset / "images" / split).glob("*.jpg"))) == counts[split]
    assert not (tiny_dataset / "labels" / "pool").exists()
    assert len(list((tiny_dataset / "oracle/labels/pool").glob("*.txt"))) == counts["pool"]
    spec = datasets.read_dataset_yaml(tiny_dataset / "dataset.yaml")
    assert spec.names == CONFIG.class_names
    assert spec.splits["train"] == tiny_dataset / "images/seed"
    assert spec.oracle_labels == tiny_dataset / "oracle/labels/pool"


def test_digit_instances_are_partitioned_between_splits():
    _, labels = samples.load_mnist_digits()
    parts = samples.split_digit_indices(labels, random_state=3)
    seen = set()
    for split in samples.SPLITS:
        indices = set(np.concatenate(list(parts[split].values())).tolist())
        assert not indices & seen
        seen |= indices
        for digit, idx in parts[split].items():
            assert np.all(labels[idx] == digit)
    assert seen == set(range(len(labels)))


@pytest.fixture(scope="module")
def pool_specs():
    digits, labels = samples.load_mnist_digits()
    parts = samples.split_digit_indices(labels, random_state=0)
    glyphs = samples._Glyphs(digits)
    specs = samples.scene_specs("pool", 2000, glyphs, parts["pool"], random_state=0)
    return specs, parts, glyphs


def test_scenes_only_use_their_own_splits_digits(pool_specs):
    specs, parts, _ = pool_specs
    allowed = set(np.concatenate(list(parts["pool"].values())).tolist())
    assert {o.digit_index for s in specs for o in s.objects} <= allowed


def test_class_frequencies_are_as_configured(pool_specs):
    specs, _, _ = pool_specs
    ids = [o.class_id for s in specs for o in s.objects if o.class_id >= 0]
    share = np.bincount(ids, minlength=len(CONFIG.class_names)) / len(ids)
    expected = CONFIG.class_probabilities
    assert np.allclose(share, expected, atol=0.02), (share, expected)
    rare = [CONFIG.class_names.index(n) for n in CONFIG.rare_classes]
    assert len(rare) == 2 and all(0.015 < share[i] < 0.05 for i in rare)


def test_condition_rates_are_exact_and_duplicates_are_easy_scenes(pool_specs):
    specs, _, _ = pool_specs
    counts = Counter(s.condition for s in specs)
    assert counts == Counter(samples._exact_counts(2000, dict(CONFIG.condition_rates)))
    groups = Counter(s.duplicate_group for s in specs if s.duplicate_group >= 0)
    in_groups = sum(groups.values())
    assert in_groups > 0.5 * counts["easy"], "near-duplicates should be a large share of easy"
    assert {s.condition for s in specs if s.duplicate_group >= 0} == {"easy"}
    assert max(groups.values()) <= CONFIG.max_duplicate_group


def test_near_duplicates_share_content_but_not_pixels(pool_specs):
    specs, _, glyphs = pool_specs
    sizes = Counter(s.duplicate_group for s in specs)
    group = next(g for g, n in sizes.items() if g >= 0 and n > 1)
    members = [s for s in specs if s.duplicate_group == group]
    a, b = (samples.render_scene(s, glyphs) for s in members[:2])
    assert a.class_ids.tolist() == b.class_ids.tolist()
    assert np.abs(a.xyxy - b.xyxy).max() <= 6
    assert not np.array_equal(a.image, b.image)


def test_boxes_are_tight_around_the_pasted_ink(pool_specs):
    specs, _, glyphs = pool_specs
    for spec in specs[:200]:
        rendered = samples.render_scene(spec, glyphs)
        labeled = [o for o in spec.objects if o.class_id >= 0]
        for obj, box in zip(labeled, rendered.xyxy, strict=True):
            alpha = glyphs.alpha(obj.digit_index, obj.height, obj.angle)
            assert tuple(box) == (obj.x, obj.y, obj.x + alpha.shape[1], obj.y + alpha.shape[0])
            assert alpha[0].max() > 0 and alpha[-1].max() > 0   # ink touches every edge
            assert alpha[:, 0].max() > 0 and alpha[:, -1].max() > 0


def test_written_labels_are_inside_the_image_and_match_the_digits(tiny_dataset):
    rows = samples.read_generation_metadata(tiny_dataset)
    checked = 0
    for row in rows:
        image_path = tiny_dataset / row["image"]
        label_dir = "oracle/labels/pool" if row["split"] == "pool" else f"labels/{row['split']}"
        labels = datasets.read_labels(tiny_dataset / label_dir / f"{image_path.stem}.txt", 6)
        assert len(labels) == int(row["n_objects"])
        xyxy = labels.xyxy(128, 128)
        assert xyxy.min() >= 0 and xyxy.max() <= 128
        if row["condition"] == "easy":
            _assert_ink_only_inside_boxes(np.asarray(Image.open(image_path)), xyxy)
            checked += 1
    assert checked >= 20


def _assert_ink_only_inside_boxes(image: np.ndarray, xyxy: np.ndarray):
    """Easy scenes are dark ink on light paper: ink pixels lie in boxes, every box has ink."""
    gray = image.mean(axis=2)
    inside = np.zeros(gray.shape, bool)
    for x1, y1, x2, y2 in np.round(xyxy).astype(int):
        inside[max(0, y1 - 2) : y2 + 2, max(0, x1 - 2) : x2 + 2] = True
        box = gray[y1:y2, x1:x2]
        assert (box < np.median(gray) - 80).sum() >= 3, "a box without ink"
    ink = gray < np.median(gray) - 80
    assert not (ink & ~inside).any(), "ink outside every box"


def test_metadata_covers_every_image_and_is_not_beside_the_labels(tiny_dataset):
    rows = samples.read_generation_metadata(tiny_dataset)
    assert len(rows) == sum(samples.PRESETS["tiny"].n_images.values())
    assert {r["condition"] for r in rows} <= {c for c, _ in CONFIG.condition_rates}
    assert not list((tiny_dataset / "labels").rglob("*.csv"))
    assert all(r["duplicate_group"] == "" for r in rows if r["split"] in ("val", "test"))


def test_refuses_to_replace_a_directory_it_did_not_build(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="was not built by alkit samples"):
        build_samples("tiny", tmp_path / "mine", progress=False)
    assert (tmp_path / "mine" / "precious.txt").read_text() == "keep me"


def test_an_interrupted_build_leaves_the_previous_dataset(tmp_path, monkeypatch, tiny_dataset):
    out = tmp_path / "ds"
    build_samples("tiny", out, progress=False)
    before = _digest(out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(samples, "_write_metadata", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_samples("tiny", out, random_state=5, progress=False)
    assert _digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        build_samples("huge", tmp_path / "x")


def test_the_longtail_preset_is_the_long_tail_regime():
    """Two rare classes near 0.5% of instances, about half the pool near-copies of easy
    scenes, a 20,000-image pool; the other presets keep the original generator."""
    preset = samples.PRESETS["longtail"]
    assert preset.n_images["pool"] == 20000 and preset.config is samples.LONGTAIL
    assert all(samples.PRESETS[p].config is CONFIG for p in ("tiny", "small", "full"))
    digits, labels = samples.load_mnist_digits()
    parts = samples.split_digit_indices(labels, samples.LONGTAIL, random_state=0)
    specs = samples.scene_specs("pool", 4000, samples._Glyphs(digits), parts["pool"],
                                samples.LONGTAIL, random_state=0)
    ids = np.array([o.class_id for s in specs for o in s.objects if o.class_id >= 0])
    rare = [CONFIG.class_names.index(n) for n in CONFIG.rare_classes]
    assert all(0.002 < np.mean(ids == i) < 0.01 for i in rare)
    groups = Counter(s.duplicate_group for s in specs if s.duplicate_group >= 0)
    in_groups = sum(groups.values())  # easy images with at least one near-copy
    assert 0.45 < in_groups / len(specs) < 0.6


def test_a_build_counts_as_built_only_with_the_presets_image_counts(tiny_dataset, tmp_path):
    """A preset whose sizes changed is rebuilt, not silently reused."""
    import json
    import shutil

    copy = tmp_path / "tiny"
    shutil.copytree(tiny_dataset, copy)
    assert samples.is_built(copy, "tiny")
    assert not samples.is_built(copy, "tiny", random_state=1)
    marker = copy / samples.MARKER_FILE
    found = json.loads(marker.read_text())
    found["n_images"]["pool"] += 1
    marker.write_text(json.dumps(found))
    assert not samples.is_built(copy, "tiny")


def _specs_digest(preset: str, split: str) -> str:
    """sha256 of the scene specs one split of ``preset`` draws (what every pixel follows)."""
    digits, labels = samples.load_mnist_digits()
    config = samples.PRESETS[preset].config
    parts = samples.split_digit_indices(labels, config, random_state=0)
    specs = samples.scene_specs(split, samples.PRESETS[preset].n_images[split],
                                samples._Glyphs(digits), parts[split], config, random_state=0)
    return hashlib.sha256(repr(specs).encode()).hexdigest()


#: The scene specs of the presets made before the one-class preset (pinned when it was added:
#: its generator fields must leave them unchanged, or every committed number moves).
PINNED_SPECS = {
    ("tiny", "pool"): "b52479485846e7b24e9d600241c40e305e8a54cc2dd3c0f7df58723f1847ab3a",
    ("demo", "seed"): "afb0998161e781619cadd38b305f400e6a90cbdd3d0373e13a11cfd7ad79fb6f",
    ("longtail", "seed"): "7da0a50fed8e6bdafc2e4fa4844a94ccd436eaf30d4973d8ad609fe6eb1e6e9c",
}


@pytest.mark.parametrize("preset,split", sorted(PINNED_SPECS))
def test_the_presets_before_the_one_class_preset_draw_the_same_scenes(preset, split):
    assert _specs_digest(preset, split) == PINNED_SPECS[preset, split]


def test_the_defects_preset_is_a_one_class_detector():
    """One class among look-alike clutter, a third of the images without a defect, small and
    faint objects, about half the pool near-copies of easy scenes, a 10,000-image pool."""
    preset = samples.PRESETS["defects"]
    assert preset.n_images["pool"] == 10000 and preset.config.class_names == ("defect",)
    digits, labels = samples.load_mnist_digits()
    parts = samples.split_digit_indices(labels, preset.config, random_state=0)
    specs = samples.scene_specs("pool", 3000, samples._Glyphs(digits), parts["pool"],
                                preset.config, random_state=0)
    labeled = [[o for o in s.objects if o.class_id >= 0] for s in specs]
    assert {o.class_id for objs in labeled for o in objs} == {0}
    empty = np.mean([not objs for objs in labeled])
    assert 0.3 < empty < 0.4
    assert all(not objs for s, objs in zip(specs, labeled, strict=True)
               if s.condition == "clean")
    heights = [o.height for objs in labeled for o in objs]
    assert np.median(heights) < 0.7 * np.median([20, 44])
    clutter = [o for s in specs for o in s.objects if o.class_id < 0]
    assert clutter and {int(labels[o.digit_index]) for o in clutter} <= {1, 4, 9}
    easy = [s for s in specs if s.condition == "easy"]
    beside = np.mean([any(o.class_id < 0 for o in s.objects) for s in easy])
    assert 0.4 < beside < 0.9  # look-alikes beside the defects in most easy scenes
    inks = [np.mean(o.ink) for s, objs in zip(specs, labeled, strict=True)
            if s.condition == "easy" for o in objs]
    assert np.median(inks) > 70  # fainter than the other presets' ink (15-70)
    groups = Counter(s.duplicate_group for s in specs if s.duplicate_group >= 0)
    assert 0.35 < sum(groups.values()) / len(specs) < 0.5
