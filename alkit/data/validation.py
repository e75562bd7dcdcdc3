"""Dataset validation: every problem, per file and line, before a bad file reaches training.

``validate_dataset(yaml_path)`` checks the yaml, then every split it names (train, val, test,
pool, and the pool's oracle labels when present):

========================  ========  =====================================================
code                      severity  what
========================  ========  =====================================================
yaml                      error     yaml missing, unreadable, not a mapping, bad names
missing-split             error     a split directory or list file does not exist
field-count               error     a label line without exactly 5 fields
not-a-number              error     a label field that is not a finite number
class-id                  error     a class id not an integer in 0..n_classes-1
out-of-range              error     x, y, w or h outside [0, 1]
empty-box                 error     zero or negative width or height
not-utf8                  error     a label file that is not text
orphan-label              error     a label file with no image of the same stem
image-unreadable          error     zero bytes, truncated, not an image at all
stem-collision            error     two images of one stem in one directory (one label file)
past-edge                 warning   a box sticking out of the image (will be clipped)
duplicate-box             warning   the same object twice in one file
extension-mismatch        warning   content format differs from the extension
unusual-image             warning   grayscale, RGBA / palette, 16-bit, very large
not-an-image-file         warning   a non-image file among the images (skipped)
duplicate-image           warning   byte-identical images in two splits (a leak)
========================  ========  =====================================================

Images without a label file are valid (no objects) and counted. An empty label file is valid.
Nothing is dropped silently: the report counts and lists everything it skipped.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from alkit.data import datasets

LARGE_IMAGE_PIXELS = 40_000_000
_PIL_FORMAT_EXTENSIONS = {
    "JPEG": {"jpg", "jpeg"}, "PNG": {"png"}, "BMP": {"bmp"}, "TIFF": {"tif", "tiff"},
    "WEBP": {"webp"}, "MPO": {"mpo", "jpg", "jpeg"}, "DNG": {"dng"}, "JPEG2000": {"jp2"},
    "HEIF": {"heic", "heif"}, "AVIF": {"avif"},
}


@dataclass(frozen=True)
class Problem:
    """One finding. ``line`` is 1-based, or ``None`` for a whole-file problem.

    Attributes:
        severity: ``"error"`` (fatal: the dataset must not be used as is) or ``"warning"``.
        code: the kind of problem, one of the codes in the module docstring's table.
        path: the file concerned, as a string.
        message: the human-readable explanation.
        line: the 1-based line in a label file, or ``None`` (default) for a whole-file problem.
    """

    severity: str  # "error" (fatal) or "warning"
    code: str
    path: str
    message: str
    line: int | None = None

    @property
    def fatal(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.severity}[{self.code}]: {self.message}"


@dataclass
class SplitSummary:
    """Counts for one split.

    Attributes:
        n_images: image files listed in the split (unreadable ones included).
        n_label_files: label files found for them (including ones that are not UTF-8).
        n_objects: objects on the label lines that parsed cleanly.
        n_images_without_labels: readable images with no label file (valid: no objects).
        n_skipped: unreadable images and non-image files in the split's directory.
        class_counts: class name -> number of objects, every class of the yaml present.
    """

    n_images: int = 0
    n_label_files: int = 0
    n_objects: int = 0
    n_images_without_labels: int = 0
    n_skipped: int = 0
    class_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class ValidationReport:
    """Everything :func:`validate_dataset` found.

    Attributes:
        yaml_path: the dataset yaml.
        problems: every finding, in the order found.
        splits: split name -> counts.
        skipped: paths not used (unreadable images, non-image files, bad label files).
    """

    yaml_path: Path
    problems: list[Problem] = field(default_factory=list)
    splits: dict[str, SplitSummary] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def fatal(self) -> bool:
        return any(p.fatal for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.fatal]

    def add(self, severity: str, code: str, path, message: str, line: int | None = None):
        """Record one finding as a :class:`Problem`.

        Args:
            severity: ``"error"`` or ``"warning"``.
            code: the kind of problem (see the module docstring's table).
            path: the file concerned (any path-like; stored as a string).
            message: the human-readable explanation.
            line: the 1-based line in a label file, ``None`` for a whole-file problem.
        """
        self.problems.append(Problem(severity, code, str(path), message, line))

    def format(self, max_problems: int = 200) -> str:
        """A human-readable report: problems (``file:line: severity[code]: message``), counts.

        At most ``max_problems`` problems are listed (default 200), followed by how many more
        there are; then one line of counts per split, the skipped files, and the verdict.
        """
        lines = [str(p) for p in self.problems[:max_problems]]
        if len(self.problems) > max_problems:
            lines.append(f"... and {len(self.problems) - max_problems} more problems")
        for name, s in self.splits.items():
            lines.append(
                f"{name}: {s.n_images} images, {s.n_objects} objects in {s.n_label_files} label "
                f"files, {s.n_images_without_labels} images without labels, {s.n_skipped} skipped"
            )
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s): " + ", ".join(self.skipped[:20])
                         + (" ..." if len(self.skipped) > 20 else ""))
        verdict = "FAILED" if self.fatal else "OK"
        lines.append(f"{verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s) "
                     f"in {self.yaml_path}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """The report as JSON: yaml, fatal, problems, splits, skipped."""
        return json.dumps({
            "yaml": str(self.yaml_path), "fatal": self.fatal,
            "problems": [asdict(p) for p in self.problems],
            "splits": {k: asdict(v) for k, v in self.splits.items()},
            "skipped": self.skipped,
        }, indent=2)


def validate_dataset(yaml_path: str | os.PathLike, *, check_duplicates: bool = True,
                     progress: bool = False) -> ValidationReport:
    """Check a dataset yaml and all the images and labels of every split it names.

    Args:
        yaml_path: the dataset yaml.
        check_duplicates: hash every image to find byte-identical images across splits.
        progress: show a progress bar per split.
    """
    report = ValidationReport(Path(yaml_path))
    try:
        spec = datasets.read_dataset_yaml(yaml_path)
    except datasets.DatasetError as error:
        report.add("error", "yaml", error.path, error.reason, error.line)
        return report
    hashes: dict[str, list[tuple[str, str]]] = defaultdict(list)
    label_roots: set[Path] = set()
    used_labels: set[Path] = set()
    for split, source in spec.splits.items():
        label_dir = spec.oracle_labels if split == "pool" else None
        summary = _validate_split(report, spec, split, source, label_dir, hashes,
                                  check_duplicates, label_roots, used_labels, progress)
        report.splits[split] = summary
    _check_orphans(report, label_roots, used_labels)
    if check_duplicates:
        _report_cross_split_duplicates(report, hashes)
    return report


def _validate_split(report, spec, split, source: Path, label_dir: Path | None, hashes,
                    check_duplicates, label_roots: set[Path], used_labels: set[Path],
                    progress: bool = False) -> SplitSummary:
    from tqdm.auto import tqdm

    summary = SplitSummary(class_counts={name: 0 for name in spec.names})
    if not source.exists():
        report.add("error", "missing-split", source,
                   f"split '{split}' in {spec.yaml_path.name} points to a path that does not exist")
        return summary
    try:
        images = datasets.list_images(source)
    except (datasets.DatasetError, OSError) as error:
        report.add("error", "missing-split", source, str(error))
        return summary
    for path in datasets.list_non_images(source) if source.is_dir() else []:
        report.add("warning", "not-an-image-file", path,
                   f"extension '{path.suffix}' is not an image format "
                   f"({', '.join(sorted(datasets.IMG_FORMATS))}); skipped")
        report.skipped.append(str(path))
        summary.n_skipped += 1
    _check_stem_collisions(report, images)
    label_of = {image: _label_path(image, source, label_dir) for image in images}
    for image in tqdm(images, desc=f"validate {split}", unit="img", disable=not progress):
        summary.n_images += 1
        if not _check_image(report, image):
            report.skipped.append(str(image))
            summary.n_skipped += 1
            continue
        if check_duplicates:
            hashes[datasets.file_sha256(image)].append((split, str(image)))
        _check_label_file(report, spec, label_of[image], summary)
    used_labels.update(label_of.values())
    label_roots.update({label_dir} if label_dir else {label_of[i].parent for i in images})
    if source.is_dir() and not label_dir:
        label_roots.add(_default_label_root(source))
    return summary


def _label_path(image: Path, source: Path, label_dir: Path | None) -> Path:
    if label_dir is not None and source.is_dir():  # a benchmark pool's hidden labels
        return label_dir / image.relative_to(source).with_suffix(".txt")
    return datasets.label_path_for(image)


def _default_label_root(image_dir: Path) -> Path:
    return datasets.label_path_for(image_dir / "x.jpg").parent


def _check_stem_collisions(report, images: list[Path]) -> None:
    by_stem: dict[Path, list[Path]] = defaultdict(list)
    for image in images:
        by_stem[image.with_suffix("")].append(image)
    for stem, group in by_stem.items():
        if len(group) > 1:
            names = ", ".join(p.name for p in group)
            report.add("error", "stem-collision", group[0],
                       f"images {names} share the stem '{stem.name}' and would share one label "
                       "file; rename all but one")


def _check_image(report, path: Path) -> bool:
    """True when the image decodes (warnings for unusual but usable ones)."""
    try:
        size = path.stat().st_size
        if size == 0:
            report.add("error", "image-unreadable", path, "image file is empty (0 bytes)")
            return False
        with Image.open(path) as image:
            image_format, mode, (width, height) = image.format, image.mode, image.size
            if width * height > LARGE_IMAGE_PIXELS:
                report.add("warning", "unusual-image", path,
                           f"very large image ({width} x {height}); it will be resized for "
                           "training and scoring, which is slow")
            else:
                image.load()
    except Image.DecompressionBombError as error:
        report.add("error", "image-unreadable", path, f"image too large to decode safely: {error}")
        return False
    except (OSError, SyntaxError, ValueError, ImportError) as error:
        # ImportError: a patched Image.open that looks for an optional decoder plugin
        report.add("error", "image-unreadable", path, _decode_message(error))
        return False
    _check_format(report, path, image_format, mode)
    return True


def _decode_message(error: Exception) -> str:
    text = str(error)
    if "cannot identify image file" in text or isinstance(error, ImportError):
        return "not an image: the content is not a known image format"
    if "truncated" in text or "broken data stream" in text or "image file is" in text:
        return f"image is truncated or corrupt: {text}"
    return f"image does not decode: {text}"


def _check_format(report, path: Path, image_format: str | None, mode: str) -> None:
    extension = path.suffix.lower().lstrip(".")
    expected = _PIL_FORMAT_EXTENSIONS.get(image_format or "", set())
    if image_format and extension not in expected:
        report.add("warning", "extension-mismatch", path,
                   f"content is {image_format} but the extension is '.{extension}'; "
                   "it decodes, but rename it to avoid tools that trust extensions")
    unusual = {
        "L": "grayscale", "LA": "grayscale with alpha", "1": "1-bit", "P": "palette",
        "RGBA": "RGBA (alpha will be composited on black)", "PA": "palette with alpha",
        "I;16": "16-bit (scaled to 8-bit)", "I;16B": "16-bit (scaled to 8-bit)",
        "I;16L": "16-bit (scaled to 8-bit)", "I": "32-bit integer", "F": "32-bit float",
        "CMYK": "CMYK",
    }
    if mode in unusual:
        report.add("warning", "unusual-image", path,
                   f"{unusual[mode]} image; converted to 8-bit RGB when loaded")


def _check_label_file(report, spec, label_path: Path, summary: SplitSummary) -> None:
    if not label_path.exists():
        summary.n_images_without_labels += 1
        return
    summary.n_label_files += 1
    try:
        text = label_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        report.add("error", "not-utf8", label_path, f"not a UTF-8 text file ({error.reason})")
        report.skipped.append(str(label_path))
        return
    labels, line_problems = datasets.parse_label_text(text, spec.n_classes)
    for p in line_problems:
        report.add("error" if p.fatal else "warning", p.code, label_path, p.message, p.line)
    summary.n_objects += len(labels)
    for class_id in labels.class_ids:
        summary.class_counts[spec.names[class_id]] += 1


def _check_orphans(report, label_roots: set[Path], used_labels: set[Path]) -> None:
    for root in sorted(label_roots):
        if not root.is_dir() or root == Path():
            continue
        for label in sorted(root.glob("*.txt")):
            if label in used_labels or label.name == "classes.txt":
                continue
            report.add("error", "orphan-label", label,
                       f"label file has no image '{label.stem}.<ext>' in the matching images "
                       "directory; its objects would never be used")


def _report_cross_split_duplicates(report, hashes) -> None:
    for entries in hashes.values():
        splits = {split for split, _ in entries}
        if len(splits) > 1:
            listed = ", ".join(f"{path} ({split})" for split, path in entries)
            report.add("warning", "duplicate-image", entries[0][1],
                       f"the same image appears in several splits: {listed}")
