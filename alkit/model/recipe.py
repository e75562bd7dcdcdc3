"""The training recipe: how every round trains (one object, one preset table).

A :class:`Recipe` says what Ultralytics gets in every round of a project, a benchmark cell or
the starter: epochs (and, for round 0, ``seed_epochs`` from the start weights), image size,
batch, the augmentation schedule (mosaic, a little mixup only from ``mixup_from_round``,
``close_mosaic``), warm start, the start weights, dataloader workers and the device. The
training seed is not part of the recipe: each round derives it from the run's ``random_state``
(:func:`alkit.core.randomness.derive_seed`).

Presets (:data:`RECIPES`, ``--recipe`` on the command line):

==========  ==================================================================================
tiny        tests: 2 epochs at 64 px, batch 8, no close-mosaic, no worker processes
cpu         the default: 30 epochs at 128 px, batch 16 (a CPU round in minutes)
bench       the benchmark's committed runs: 15 epochs a round at 128 px
starter     the starter experiment: the seed model 30 epochs, then 5-epoch fine-tunes
classic     the classic recipe: 80 epochs at 640 px, batch 16 (a GPU run: set ``device``)
==========  ==================================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from alkit.core.settings import replace_settings


@dataclass(frozen=True)
class Recipe:
    """How a round trains.

    Attributes:
        epochs: epochs of every round after the seed round.
        seed_epochs: epochs of round 0 (the seed model) from the start weights; ``None`` means
            ``epochs``; 0 means the start weights already are the seed model (they must know
            the dataset's classes) and round 0 only evaluates them.
        imgsz, batch: training (and scoring) image size, images per batch.
        mosaic: mosaic probability. mixup: mixup probability from round ``mixup_from_round``
            on (0 before: the classic "a little mixup only after round 2").
        close_mosaic: the last epochs without mosaic.
        warm_start: True: each round fine-tunes the previous round's best checkpoint; False:
            every round restarts from the start weights (rounds comparable on equal terms).
        initial_weights: the start weights (default: the optional pretrained start, else
            ``yolov8n.yaml``; see :func:`alkit.model.yolo.default_start_weights`).
        workers: dataloader worker processes. device: ``"cpu"``, ``"0"``, ``"cuda:0"``, ...
            (training, scoring and the committee all use it).
        engine: where pool scoring runs: ``"local"`` (this process) or ``"ray"`` (Ray actors,
            :mod:`alkit.model.distributed`). address: the Ray cluster (``host:port``;
            ``None``: a private Ray on 127.0.0.1). actors, gpus_per_actor: Ray actors and the
            GPUs each reserves. Training always runs in this process.
    """

    epochs: int = 30
    seed_epochs: int | None = None
    imgsz: int = 128
    batch: int = 16
    mosaic: float = 1.0
    mixup: float = 0.1
    mixup_from_round: int = 3
    close_mosaic: int = 10
    warm_start: bool = True
    initial_weights: str | None = None
    workers: int = 2
    device: str = "cpu"
    engine: str = "local"
    address: str | None = None
    actors: int = 2
    gpus_per_actor: float = 0.0

    def __post_init__(self):
        for name in ("epochs", "imgsz", "batch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"Recipe.{name} must be >= 1, got {getattr(self, name)}")
        if self.seed_epochs is not None and self.seed_epochs < 0:
            raise ValueError(f"Recipe.seed_epochs must be >= 0 or None, got {self.seed_epochs}")
        for name in ("mosaic", "mixup"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Recipe.{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.workers < 0 or self.close_mosaic < 0 or self.mixup_from_round < 0:
            raise ValueError("Recipe.workers, close_mosaic and mixup_from_round must be >= 0")
        if self.engine not in ("local", "ray"):
            raise ValueError(f"Recipe.engine must be 'local' or 'ray', got {self.engine!r}")
        if int(self.actors) < 1 or self.gpus_per_actor < 0:
            raise ValueError("Recipe.actors must be >= 1 and gpus_per_actor >= 0")

    def epochs_of(self, round_number: int) -> int:
        """Epochs of round ``round_number`` (``seed_epochs`` for round 0)."""
        if round_number == 0 and self.seed_epochs is not None:
            return self.seed_epochs
        return self.epochs

    def train_kwargs(self, round_number: int, *, random_state: int) -> dict:
        """Keyword arguments of :func:`alkit.model.yolo.train` for round ``round_number``,
        training with seed ``random_state`` (start weights, run folder and data not included)."""
        return {"epochs": self.epochs_of(round_number), "imgsz": self.imgsz,
                "batch": self.batch, "workers": self.workers, "device": self.device,
                "mosaic": self.mosaic, "close_mosaic": self.close_mosaic,
                "mixup": self.mixup if round_number >= self.mixup_from_round else 0.0,
                "seed": int(random_state)}

    def scoring_kwargs(self) -> dict:
        """Keyword arguments of :func:`alkit.score_pool` this recipe sets: ``device``,
        ``engine``, ``address``, ``actors`` and ``gpus_per_actor`` (image size not included)."""
        return {"device": self.device, "engine": self.engine, "address": self.address,
                "actors": int(self.actors), "gpus_per_actor": float(self.gpus_per_actor)}

    def to_dict(self) -> dict:
        """Plain JSON-able dict of the fields."""
        return asdict(self)


RECIPES: dict[str, Recipe] = {
    "tiny": Recipe(epochs=2, imgsz=64, batch=8, close_mosaic=0, workers=0),
    "cpu": Recipe(),
    "bench": Recipe(epochs=15),
    "starter": Recipe(epochs=5, seed_epochs=30),
    "classic": Recipe(epochs=80, imgsz=640),
}


def recipe(name: str = "cpu", **overrides) -> Recipe:
    """The preset ``name`` of :data:`RECIPES` with ``overrides`` (field names) applied; a value
    of ``None`` in ``overrides`` leaves the preset's value (handy for optional CLI flags)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; expected one of {sorted(RECIPES)}")
    return replace_settings(RECIPES[name], overrides, "recipe")


def as_recipe(value: Recipe | str) -> Recipe:
    """``value`` as a :class:`Recipe`: a Recipe as it is, or a preset name of :data:`RECIPES`
    (``tiny``, ``cpu``, ``bench``, ``starter``, ``classic``) looked up by :func:`recipe`."""
    return value if isinstance(value, Recipe) else recipe(value)
