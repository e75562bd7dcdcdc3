"""alkit: active learning for object detection with Ultralytics YOLO.

The public API is flat: everything a notebook or a script needs imports from ``alkit``. The
package is split into layers, each importing only from the ones before it:

==============  ==========================================================================
alkit.core      pure numpy: detections, boxes, the pool's scores, uncertainty, strategies
                (utilities and selectors), the query, disagreement, curves, stopping,
                randomness
alkit.data      the I/O edge: dataset files and validation, the sample benchmark, atomic
                writes, alkit's home folder, the offline guard
alkit.viz       matplotlib figures
alkit.model     the Ultralytics adapter (``alkit.model.yolo`` is the one module importing
                ultralytics), pool scoring, the recipe, committee training
alkit.annotate  annotators: the interface, simulated, label files, Label Studio, CVAT files
alkit.loop      the loop: the ledger, the project, round configs, experiments, the starter,
                production monitoring, the label audit
alkit.ui        the notebook UI: review states and widgets
==============  ==========================================================================
"""

import os

if os.environ.get("ALKIT_NETWORK_GUARD") == "1":
    from alkit.data import netguard as _netguard

    _netguard.install()

from alkit.annotate.base import AnnotationItem, AnnotationJob, Annotator
from alkit.annotate.cvat import CvatFilesAnnotator
from alkit.annotate.folder import FolderAnnotator
from alkit.annotate.labelstudio import LabelStudio, LabelStudioAnnotator, LabelStudioError
from alkit.annotate.simulated import NoiseModel, Oracle
from alkit.core.audit import LabelAudit, audit_labels
from alkit.core.context import RoundContext
from alkit.core.detections import Detections
from alkit.core.drift import ChangeRule, detect_changes
from alkit.core.pool import PoolScores
from alkit.core.query import Query, query, run_query
from alkit.core.randomness import check_random_state, derive_seed
from alkit.core.selection import Selection
from alkit.core.selectors import Hybrid, KCenter, RandomOrder, Shortlist, TopK, Typical
from alkit.core.stopping import (
    AllOf,
    AnyOf,
    CurveAnalysis,
    GainBelow,
    History,
    LabelBudget,
    MaxRounds,
    PredictedGainBelow,
    SaturationGainBelow,
    StabilizingPredictions,
    StoppingRule,
    Verdict,
    analyze,
    class_trends,
    default_rule,
)
from alkit.core.strategy import STRATEGIES, Strategy, strategy
from alkit.core.utility import Disagreement, Uncertainty
from alkit.data.datasets import (
    DatasetError,
    DatasetSpec,
    Labels,
    label_path_for,
    list_images,
    load_rgb,
    read_dataset_yaml,
    read_labels,
    read_split,
    write_dataset_yaml,
    write_labels,
)
from alkit.data.production import ProductionBatch, build_stream, read_batch
from alkit.data.samples import PRESETS, build_samples, ensure_samples
from alkit.data.scorefile import load_scores, save_scores
from alkit.data.validation import ValidationReport, validate_dataset
from alkit.loop.audit import AuditReport
from alkit.loop.config import RoundConfig, round_config
from alkit.loop.ledger import Ledger, LedgerError, RoundRecord
from alkit.loop.monitor import MonitorReport, monitor_batch, monitor_report
from alkit.loop.project import Project
from alkit.loop.simulate import Experiment, experiment, run_grid, write_report
from alkit.loop.starter import MissingLabelError, run_starter
from alkit.loop.starter_report import StarterReport
from alkit.model.recipe import RECIPES, Recipe, recipe
from alkit.model.scoring import score_pool
from alkit.ui.review import (
    BoxEditorState,
    EmbeddingMapState,
    ReviewState,
    ScoreExplorerState,
    SuspectsState,
)
from alkit.viz import plots

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "RECIPES",
    "STRATEGIES",
    "AllOf",
    "AnnotationItem",
    "AnnotationJob",
    "Annotator",
    "AnyOf",
    "AuditReport",
    "BoxEditorState",
    "ChangeRule",
    "CurveAnalysis",
    "CvatFilesAnnotator",
    "DatasetError",
    "DatasetSpec",
    "Detections",
    "Disagreement",
    "EmbeddingMapState",
    "Experiment",
    "FolderAnnotator",
    "GainBelow",
    "History",
    "Hybrid",
    "KCenter",
    "LabelAudit",
    "LabelBudget",
    "LabelStudio",
    "LabelStudioAnnotator",
    "LabelStudioError",
    "Labels",
    "Ledger",
    "LedgerError",
    "MaxRounds",
    "MissingLabelError",
    "MonitorReport",
    "NoiseModel",
    "Oracle",
    "PoolScores",
    "PredictedGainBelow",
    "ProductionBatch",
    "Project",
    "Query",
    "RandomOrder",
    "Recipe",
    "ReviewState",
    "RoundConfig",
    "RoundContext",
    "RoundRecord",
    "SaturationGainBelow",
    "ScoreExplorerState",
    "Selection",
    "Shortlist",
    "StabilizingPredictions",
    "StarterReport",
    "StoppingRule",
    "Strategy",
    "SuspectsState",
    "TopK",
    "Typical",
    "Uncertainty",
    "ValidationReport",
    "Verdict",
    "__version__",
    "analyze",
    "audit_labels",
    "build_samples",
    "build_stream",
    "check_random_state",
    "class_trends",
    "default_rule",
    "derive_seed",
    "detect_changes",
    "ensure_samples",
    "experiment",
    "label_path_for",
    "list_images",
    "load_rgb",
    "load_scores",
    "monitor_batch",
    "monitor_report",
    "plots",
    "query",
    "read_batch",
    "read_dataset_yaml",
    "read_labels",
    "read_split",
    "recipe",
    "round_config",
    "run_grid",
    "run_query",
    "run_starter",
    "save_scores",
    "score_pool",
    "strategy",
    "validate_dataset",
    "write_dataset_yaml",
    "write_labels",
    "write_report",
]
