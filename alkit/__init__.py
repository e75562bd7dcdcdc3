"""alkit: active learning for object detection with Ultralytics YOLO.

The package's core (detections, dataset I/O, samples, validation) does not import
ultralytics; ``alkit.yolo`` is the one module that does, and it makes ultralytics safe offline
when imported.
"""

import os

if os.environ.get("ALKIT_NETWORK_GUARD") == "1":
    from alkit.data import netguard as _netguard

    _netguard.install()

from alkit.core.detections import Detections
from alkit.data.datasets import (
    DatasetError,
    DatasetSpec,
    Labels,
    label_path_for,
    list_images,
    load_rgb,
    read_dataset_yaml,
    read_labels,
    write_dataset_yaml,
    write_labels,
)
from alkit.data.samples import PRESETS, build_samples
from alkit.data.validation import ValidationReport, validate_dataset
from alkit.loop.starter import StarterReport, run_starter
from alkit.model.scoring import PoolScores, score_pool
from alkit.ui.review import BoxEditorState, EmbeddingMapState, ReviewState, ScoreExplorerState

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "BoxEditorState",
    "DatasetError",
    "DatasetSpec",
    "Detections",
    "EmbeddingMapState",
    "Labels",
    "PoolScores",
    "ReviewState",
    "ScoreExplorerState",
    "StarterReport",
    "ValidationReport",
    "__version__",
    "build_samples",
    "label_path_for",
    "list_images",
    "load_rgb",
    "read_dataset_yaml",
    "read_labels",
    "run_starter",
    "score_pool",
    "validate_dataset",
    "write_dataset_yaml",
    "write_labels",
]
