"""Pool scoring on a Ray cluster: the ``engine="ray"`` of :func:`alkit.score_pool`.

The driver (the process that calls :func:`alkit.score_pool`) never decodes an image. It splits
the pool's paths into fixed **blocks** (``block_size`` paths each, in the order given), skips
the blocks whose shard is already in the cache, and hands the rest to Ray Data as a table of
``(block, path)`` rows. ``map_batches`` runs a callable class (:class:`_ScoreActor`) on
``actors`` actors: each loads the weights once (the checkpoint's bytes are shipped to it, so
workers need not reach the driver's weights path), reads every image by path itself, hashes its
bytes, and runs the one-pass scorer (:class:`alkit.model.yolo.OnePassScorer`, BGR input) on the
images whose content hash the cache lacks.

**Shards.** The driver writes one atomic shard per finished block into the same
:class:`alkit.model.records.ShardCache` as local scoring (same key: weights hash, scoring
settings), named ``shard-block-<digest>.npz`` where the digest covers the block's paths with each
file's size and modification time. Besides the usual per-image records a block shard lists its
paths, their content hashes and the reasons of skipped images. So

* a killed driver's rerun skips every finished block without touching its images (counted in
  ``ScoringRun.n_blocks_skipped``);
* a later local rescore finds every record (records are keyed by content hash);
* an actor killed mid-job is restarted by Ray and its batch retried (at least once): rows are
  de-duplicated by path, so every image appears exactly once.

**Cluster.** ``address=None`` starts a private single-node Ray on 127.0.0.1 for the call (no
dashboard, no usage statistics, gRPC bound to loopback) and stops it afterwards; an address
(``host:port`` of a running cluster's GCS, e.g. ``ray start --head`` printed it) connects to that
cluster, after checking that the address answers. Every node needs alkit installed (same
version) and must read the image paths; see docs/distributed.md.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alkit.data import pausepoints
from alkit.data.files import atomic_savez
from alkit.model.records import LoadedImage, image_record, join_records, read_image

#: Environment a private Ray started by alkit needs to stay on loopback and send nothing out
#: (measured with ray 2.60: on Linux its gRPC servers bind every interface unless
#: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, which also refuses a second node).
RAY_LOCAL_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


class DistributedError(RuntimeError):
    """The Ray engine cannot run: Ray missing, a cluster address that does not answer, ..."""


@dataclass(frozen=True)
class RayEngine:
    """Where and how wide the Ray engine scores.

    Attributes:
        address: a running cluster's address (``host:port`` of its GCS, or ``"auto"`` on a
            cluster node); ``None`` starts a private Ray on 127.0.0.1 for the call.
        actors: scoring actors (each holds one copy of the model).
        gpus_per_actor: GPUs each actor reserves (0: CPU actors; 0.5 puts two actors on a GPU).
            With GPUs the actors infer on ``cuda`` device 0 of what Ray gives them.
        cpus_per_actor: CPUs each actor reserves (also its torch threads).
        block_size: images per shard (the unit a killed driver's rerun skips).
    """

    address: str | None = None
    actors: int = 2
    gpus_per_actor: float = 0.0
    cpus_per_actor: float = 1.0
    block_size: int = 64

    def __post_init__(self):
        if int(self.actors) < 1:
            raise ValueError(f"RayEngine.actors must be >= 1, got {self.actors}")
        if self.gpus_per_actor < 0 or self.cpus_per_actor <= 0:
            raise ValueError("RayEngine.gpus_per_actor must be >= 0 and cpus_per_actor > 0")
        if int(self.block_size) < 1:
            raise ValueError(f"RayEngine.block_size must be >= 1, got {self.block_size}")


def block_shard_name(paths: Sequence[str]) -> str:
    """The fixed shard file name of one block of image ``paths`` (a sequence of str): a digest
    of each path with its file's size and modification time (-1 when it cannot be read), so a
    changed file makes a new block."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0-1\0-1\n".encode())
    return f"shard-block-{digest.hexdigest()[:32]}.npz"


def check_address(address: str, *, timeout: float = 5.0) -> None:
    """Raise :class:`DistributedError` naming ``address`` when nothing answers there.

    Args:
        address: ``host:port`` (``ray://`` prefix allowed) or ``"auto"`` (not checked).
        timeout: seconds to wait for the TCP connection.
    """
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise DistributedError(f"Ray cluster address {address!r}: expected host:port")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise DistributedError(f"cannot reach the Ray cluster at {address}: "
                               f"{error.strerror or error}") from None


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise DistributedError("the Ray engine needs Ray: pip install 'alkit[ray]'") from None
    return ray


class _Connection:
    """Connects the driver to Ray (or starts a private local one) and disconnects on exit."""

    def __init__(self, engine: RayEngine, n_gpus: int):
        self.engine, self.n_gpus = engine, n_gpus
        self.restore = None

    def __enter__(self):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if self.engine.address is None:  # before Ray reads its settings at import
            for key, value in RAY_LOCAL_ENV.items():
                os.environ.setdefault(key, value)
        ray = _import_ray()
        if ray.is_initialized():
            ray.shutdown()
        if self.engine.address is None:
            # Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, at import: when it was imported
            # before this call, its constant is set here too (else it binds every interface)
            from ray._private import ray_constants

            self.restore = (ray_constants, ray_constants.ENABLE_RAY_CLUSTER)
            ray_constants.ENABLE_RAY_CLUSTER = False
            try:
                ray.init(num_cpus=max(1, int(np.ceil(self.engine.actors
                                                     * self.engine.cpus_per_actor))),
                         num_gpus=None if self.n_gpus else 0,  # None: the GPUs Ray finds
                         include_dashboard=False, _node_ip_address="127.0.0.1",
                         log_to_driver=False, object_store_memory=256 * 2**20,
                         configure_logging=False)
            except BaseException:
                self._restore()
                raise
        else:
            check_address(self.engine.address)
            try:
                ray.init(address=self.engine.address, log_to_driver=False,
                         configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise DistributedError(f"cannot connect to the Ray cluster at "
                                       f"{self.engine.address}: {error}") from None
        return ray

    def __exit__(self, *exc):
        import ray

        ray.shutdown()
        self._restore()

    def _restore(self) -> None:
        if self.restore is not None:  # a later call may connect to a real cluster
            module, value = self.restore
            module.ENABLE_RAY_CLUSTER = value
            self.restore = None


class _ScoreActor:
    """Ray Data callable class: one model per actor, images read by path inside the actor.

    A batch is a pyarrow table with columns ``block`` (int64) and ``path`` (str); the output
    has one row per input row: ``block``, ``path``, ``hash`` (SHA-256 of the file, '' when
    unreadable), ``error`` ('' when scored) and ``record`` (pickled per-image record, empty
    when the cache already had the hash or the image was skipped). ``pause_env``: the
    driver's test pause variables (:func:`alkit.data.pausepoints.forwarded_env`), set in the
    actor's environment.
    """

    def __init__(self, weights_ref, known_ref, settings: dict, device: str, threads: int,
                 pause_env: dict | None = None):
        import ray

        os.environ.update(pause_env or {})
        os.environ["ALKIT_TORCH_THREADS"] = str(threads)
        from alkit.model import yolo

        yolo.set_torch_threads(threads)
        self.threads = threads
        self.known = ray.get(known_ref)
        folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"alkit-actor-{os.getpid()}"
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / "weights.pt"
        weights.write_bytes(ray.get(weights_ref))
        self.scorer = yolo.OnePassScorer(
            str(weights), imgsz=settings["imgsz"], conf=settings["conf"], iou=settings["iou"],
            max_det=settings["max_det"], embed_layer=settings["embed_layer"], device=device)
        self.first = True

    def __call__(self, batch):
        import pyarrow as pa

        blocks = batch.column("block").to_pylist()
        paths = batch.column("path").to_pylist()
        items = [read_image(p, lambda digest: digest not in self.known) for p in paths]
        todo = {}
        for item in items:
            if item.bgr is not None and not item.error:
                todo.setdefault(item.hash, item)
        records = {}
        if todo:
            outputs = self.scorer([it.bgr for it in todo.values()])
            if self.first:  # Ultralytics resets torch's threads on the first predict
                from alkit.model import yolo

                yolo.set_torch_threads(self.threads)
                self.first = False
            for it, out in zip(todo.values(), outputs, strict=True):
                records[it.hash] = pickle.dumps(image_record(it.hash, *it.bgr.shape[:2], out),
                                                protocol=5)
        pausepoints.pause_point("ray.actor_batch")
        return pa.table({
            "block": pa.array(blocks, pa.int64()),
            "path": pa.array(paths, pa.string()),
            "hash": pa.array([it.hash or "" for it in items], pa.string()),
            "error": pa.array([it.error or "" for it in items], pa.string()),
            # every row of a newly scored hash carries the record (duplicates in a batch too)
            "record": pa.array([records.get(it.hash, b"") if it.hash else b""
                                for it in items], pa.binary()),
        })


def infer_missing_ray(model, cache, paths: list[str], settings: dict, *, engine: RayEngine,
                      batch: int, device: str, bar) -> tuple[list, dict]:
    """Score on Ray the ``paths`` whose records ``cache`` lacks (the Ray twin of local
    scoring's inner loop).

    Args:
        model: the loaded YOLO object (its checkpoint bytes are shipped to the actors).
        cache: the :class:`alkit.model.records.ShardCache` of this model and settings, loaded.
        paths: (N,) unique image paths, in the order given.
        settings: the scoring settings (``imgsz``, ``conf``, ``iou``, ``max_det``,
            ``embed_layer``).
        engine: the :class:`RayEngine` (address, actors, GPUs, block size).
        batch: images per forward pass in an actor.
        device: the actors' torch device when ``engine.gpus_per_actor`` is 0.
        bar: a tqdm-like progress bar (``update(n)``), advanced as blocks finish.

    Returns:
        ``(loaded, info)``: (N,) :class:`alkit.model.records.LoadedImage` items (path, content
        hash, error) in the order of ``paths``; ``info`` has ``n_blocks``,
        ``n_blocks_skipped`` (finished shards found and not recomputed), ``startup_seconds``
        (connecting or starting Ray, starting the actors, until the first scored batch
        returns), ``steady_images_per_second`` (images after that first batch over the time
        after it), ``engine``, ``address``, ``actors``, ``gpus_per_actor``.
    """
    size = int(engine.block_size)
    blocks = [paths[i : i + size] for i in range(0, len(paths), size)]
    names = [block_shard_name(b) for b in blocks]
    done: dict[str, tuple[str, str]] = {}  # path -> (hash, error)
    pending = []
    for j, name in enumerate(names):
        index = cache.blocks.get(name)
        if index is None:
            pending.append(j)
            continue
        done.update(index)
        bar.update(len(blocks[j]))
    info = {"engine": "ray", "n_blocks": len(blocks),
            "n_blocks_skipped": len(blocks) - len(pending), "startup_seconds": 0.0,
            "actors": engine.actors, "gpus_per_actor": engine.gpus_per_actor,
            "address": engine.address or "local"}
    if pending:
        started = time.perf_counter()
        n_gpus = int(np.ceil(engine.actors * engine.gpus_per_actor))
        with _Connection(engine, n_gpus) as ray:
            _run_blocks(ray, model, cache, blocks, names, pending, settings, engine, batch,
                        device, bar, done, info, started)
    loaded = [LoadedImage(p, done[p][0] or None, error=done[p][1] or None) for p in paths]
    return loaded, info


def _run_blocks(ray, model, cache, blocks, names, pending, settings, engine, batch, device,
                bar, done, info, started) -> None:
    import pyarrow as pa

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    rows_block = [j for j in pending for _ in blocks[j]]
    rows_path = [p for j in pending for p in blocks[j]]
    table = pa.table({"block": pa.array(rows_block, pa.int64()),
                      "path": pa.array(rows_path, pa.string())})
    # several input blocks, so that every actor gets work from the start (a repartition would
    # need CPUs the actors hold)
    step = max(batch, -(-len(rows_path) // (8 * engine.actors)))
    dataset = ray.data.from_arrow([table.slice(i, step) for i in range(0, len(rows_path), step)])
    from alkit.model import yolo

    weights_ref = ray.put(yolo.checkpoint_bytes(model))
    known_ref = ray.put(frozenset(cache.records))
    actor_device = "0" if engine.gpus_per_actor > 0 else device
    threads = max(1, int(engine.cpus_per_actor))
    # Ray Data restarts a killed actor and retries its batch (max_restarts and
    # max_task_retries default to -1 for actor pools): rows can come back twice
    scored = dataset.map_batches(
        _ScoreActor, batch_size=batch, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=int(engine.actors)),
        num_cpus=engine.cpus_per_actor, num_gpus=engine.gpus_per_actor or None,
        fn_constructor_kwargs={"weights_ref": weights_ref, "known_ref": known_ref,
                               "settings": settings, "device": actor_device,
                               "threads": threads,
                               "pause_env": pausepoints.forwarded_env()})
    seen: dict[int, dict[str, tuple]] = {j: {} for j in pending}
    first_row, n_rows_first = None, 0
    try:
        for out in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
            if first_row is None:
                first_row, n_rows_first = time.perf_counter(), out.num_rows
            for j, path, digest, error, record in zip(*(out.column(c).to_pylist() for c in (
                    "block", "path", "hash", "error", "record")), strict=True):
                rows = seen.get(j)
                if rows is None or path in rows:  # a finished block, or a retried batch's repeat
                    continue
                rows[path] = (digest, error, record)
                if len(rows) == len(blocks[j]):
                    _finish_block(cache, names[j], blocks[j], rows)
                    done.update({p: (r[0], r[1]) for p, r in rows.items()})
                    bar.update(len(rows))
                    del seen[j]
                    pausepoints.pause_point("ray.block")
    except ray.exceptions.RayError as error:
        raise DistributedError(
            f"the Ray job on {engine.address or 'a private local Ray'} failed after "
            f"{len(pending) - len(seen)} of {len(pending)} block(s) (finished ones are kept; "
            f"run again to resume): {str(error)[-2000:]}") from None
    ended = time.perf_counter()
    info["startup_seconds"] = (first_row or ended) - started
    # throughput once the actors are up: rows after the first returned batch
    steady = ended - (first_row or ended)
    info["steady_images_per_second"] = ((len(rows_path) - n_rows_first) / steady
                                        if steady > 0 else float("nan"))
    if seen:
        missing = sum(len(blocks[j]) - len(rows) for j, rows in seen.items())
        raise DistributedError(f"the Ray job ended with {missing} image(s) of {len(seen)} "
                               "block(s) unscored; run again to finish (finished blocks are kept)")


def _finish_block(cache, name: str, block: list[str], rows: dict[str, tuple]) -> None:
    """Write one block's shard (records of its scored images, its path index) atomically."""
    records = {}
    for digest, error, blob in rows.values():
        if not error and digest and blob:
            records.setdefault(digest, pickle.loads(blob))
    for path, (digest, error, _) in rows.items():
        if error or not digest or digest in records:
            continue
        if digest not in cache.records:  # the actors only leave out hashes the cache holds
            raise DistributedError(f"{path}: came back from the Ray job without its scores")
        records[digest] = cache.records[digest]
    ordered = [rows[p] for p in block]
    arrays = join_records(list(records.values())) if records else _empty_records()
    atomic_savez(cache.directory / name, **arrays,
                 block_paths=np.array(block, dtype=str),
                 block_hashes=np.array([r[0] for r in ordered], dtype=str),
                 block_errors=np.array([r[1] for r in ordered], dtype=str))
    for digest, record in records.items():
        cache.records.setdefault(digest, record)
    cache.blocks[name] = {p: (r[0], r[1]) for p, r in zip(block, ordered, strict=True)}


def _empty_records() -> dict[str, np.ndarray]:
    return {"hashes": np.zeros(0, str), "heights": np.zeros(0, np.int32),
            "widths": np.zeros(0, np.int32), "n_boxes": np.zeros(0, np.int64),
            "box_xyxy": np.zeros((0, 4), np.float32), "box_confidence": np.zeros(0, np.float32),
            "box_class": np.zeros(0, np.int64), "box_class_scores": np.zeros((0, 1), np.float32),
            "embeddings": np.zeros((0, 1), np.float32),
            "box_features": np.zeros((0, 1), np.float16)}

