"""The project ledger: every image, round, query, label and review decision, in one SQLite file.

An active-learning project lasts months; the ledger is what makes it safe to stop, crash and
resume. It is one file, ``<project>/project.db`` (standard library ``sqlite3``, WAL journal,
``synchronous=FULL``), and every write is one transaction: a process killed at any point
(SIGKILL included) leaves a ledger that opens with every committed step and none of the
interrupted one.

Every SQL statement of alkit is in this module: the loop asks the ledger, it never reaches into
the database itself.

Schema (version 5; a ledger of version 1 to 4 is migrated when opened):

=========  ==============================================================================
table      columns
=========  ==============================================================================
meta       key, value (schema_version, dataset yaml, class names as JSON, created)
images     id, path (unique), hash (SHA-256 of the file), split (seed / pool / production:
           production images sent for relabeling by the monitor, apart from the original
           pool), state (unlabeled / queried / labeled / skipped / flagged), added_at
rounds     number (0 = the seed model), strategy, params (JSON), status (selecting / staged /
           annotating / training / done), model_before, model_before_hash, model_after,
           model_after_hash, metrics_before (JSON), metrics_after (JSON), n_labeled_before,
           n_labeled_after, started_at, finished_at
queries    image_id (unique: an image is never queried twice), round, rank, score, reason
labels     image_id (unique: a label is never imported twice), round, source (the annotator
           that gave it: seed / oracle / widget / labelstudio / folder / any annotator's name),
           annotator, received_at, label_path, label_hash, n_objects
decisions  id, image_id, round, decision (label / skip / flag), note, decided_at
monitor_   number (0, 1, ...), name (unique), content_key (SHA-256 of the batch's sorted
batches    paths and hashes), model, model_hash, recorded_at, first_timestamp,
           last_timestamp, n_images, n_scored, n_skipped, n_flagged, n_sent, flag_threshold,
           stats (JSON: measure quantiles, class mix, drift measures, scoring counts)
monitor_   batch, position, path, hash, timestamp, status (scored / skipped), reason,
images     max_confidence, flagged, image_id (the images row when it was sent, else NULL)
audits     number (0, 1, ...), round (whose labels were audited), model, model_hash (the
           model that made the predictions: the round's model_before, which did not train
           on them), recorded_at, n_images, n_flagged, n_inferred (images the audit had to
           score because the cache lacked them), settings (JSON: cleanlab version and
           parameters, skipped images, notes)
audit_     audit, image_id, rank (1 = most likely mislabeled), score, overlooked, swap,
images     badloc (label quality and its three parts, lower = worse), flagged,
           n_labels, n_predictions, label_hash (the label file audited)
audit_     audit, image_id, position, kind (overlooked / swap / badloc), score, flagged,
boxes      label_index, label_class, label_x1..label_y2 (pixels; NULL for overlooked),
           pred_class, pred_confidence, pred_x1..pred_y2 (the predicted box beside it)
audit_     id, audit, image_id, decision (accept / fix / send_back), note, decided_at: what a
decisions  person decided about a suspect of an audit
relabels   id, image_id, audit (NULL when not from an audit), reason, requested_at, round
           (the round whose annotation job carries it; NULL until one does), resolved_at
           (NULL while the corrected label has not come back)
label_     id, image_id, round, source, annotator, received_at, label_hash, n_objects (the
history    replaced labels row), text (the replaced label file), replaced_at,
           replaced_in_round (NULL when fixed outside a round), reason
=========  ==============================================================================

Version 3 (issue 17, monitoring) added the ``production`` split and the two ``monitor_``
tables; :func:`_migrate_2_to_3` rebuilds ``images`` (SQLite cannot change a CHECK in place).
Version 4 (issue 31, the label audit) added the three ``audit`` tables
(:func:`_migrate_3_to_4`). Audits are relational rows rather than a JSON blob per image so
that a suspects view can order and filter boxes across images (by kind, by score) in SQL, and
each box row can later be referred to when an image is sent back for relabeling.
Version 5 (issue 31, relabeling) added ``audit_decisions``, ``relabels`` and
``label_history``: a corrected label replaces the ``labels`` row in place (so every reader of
the labeled set sees the correction) and the replaced row, with its file's text, moves to
``label_history`` in the same transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alkit.data.pausepoints import pause_point

SCHEMA_VERSION = 5
LEDGER_FILE = "project.db"
IMAGE_STATES = ("unlabeled", "queried", "labeled", "skipped", "flagged")
ROUND_STATUSES = ("selecting", "staged", "annotating", "training", "done")
#: The label sources alkit's own annotators record; any other annotator names its own.
LABEL_SOURCES = ("seed", "oracle", "widget", "labelstudio", "folder")
#: Where an image came from: the labeled seed, the original pool, or production (the monitor).
SPLITS = ("seed", "pool", "production")

_LABELS_TABLE = """
CREATE TABLE IF NOT EXISTS labels (
    image_id INTEGER PRIMARY KEY REFERENCES images (id),
    round INTEGER NOT NULL,
    source TEXT NOT NULL CHECK (length(source) > 0),
    annotator TEXT,
    received_at TEXT NOT NULL,
    label_path TEXT NOT NULL,
    label_hash TEXT NOT NULL,
    n_objects INTEGER NOT NULL
)
"""

_IMAGES_TABLE = """
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL,
    split TEXT NOT NULL CHECK (split IN ('seed', 'pool', 'production')),
    state TEXT NOT NULL CHECK (state IN ('unlabeled', 'queried', 'labeled', 'skipped',
                                         'flagged')),
    added_at TEXT NOT NULL
)
"""

_MONITOR_TABLES = """
CREATE TABLE IF NOT EXISTS monitor_batches (
    number INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    content_key TEXT NOT NULL,
    model TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    first_timestamp TEXT,
    last_timestamp TEXT,
    n_images INTEGER NOT NULL,
    n_scored INTEGER NOT NULL,
    n_skipped INTEGER NOT NULL,
    n_flagged INTEGER NOT NULL,
    n_sent INTEGER NOT NULL,
    flag_threshold REAL NOT NULL,
    stats TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS monitor_images (
    batch INTEGER NOT NULL REFERENCES monitor_batches (number),
    position INTEGER NOT NULL,
    path TEXT NOT NULL,
    hash TEXT,
    timestamp TEXT,
    status TEXT NOT NULL CHECK (status IN ('scored', 'skipped')),
    reason TEXT,
    max_confidence REAL,
    flagged INTEGER,
    image_id INTEGER REFERENCES images (id),
    PRIMARY KEY (batch, position)
);
"""

_AUDIT_TABLES = """
CREATE TABLE IF NOT EXISTS audits (
    number INTEGER PRIMARY KEY,
    round INTEGER NOT NULL REFERENCES rounds (number),
    model TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    n_images INTEGER NOT NULL,
    n_flagged INTEGER NOT NULL,
    n_inferred INTEGER NOT NULL,
    settings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_images (
    audit INTEGER NOT NULL REFERENCES audits (number),
    image_id INTEGER NOT NULL REFERENCES images (id),
    rank INTEGER NOT NULL,
    score REAL NOT NULL CHECK (score BETWEEN 0 AND 1),
    overlooked REAL NOT NULL,
    swap REAL NOT NULL,
    badloc REAL NOT NULL,
    flagged INTEGER NOT NULL,
    n_labels INTEGER NOT NULL,
    n_predictions INTEGER NOT NULL,
    label_hash TEXT,
    PRIMARY KEY (audit, image_id)
);
CREATE TABLE IF NOT EXISTS audit_boxes (
    audit INTEGER NOT NULL,
    image_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('overlooked', 'swap', 'badloc')),
    score REAL NOT NULL,
    flagged INTEGER NOT NULL,
    label_index INTEGER,
    label_class INTEGER,
    label_x1 REAL, label_y1 REAL, label_x2 REAL, label_y2 REAL,
    pred_class INTEGER,
    pred_confidence REAL,
    pred_x1 REAL, pred_y1 REAL, pred_x2 REAL, pred_y2 REAL,
    PRIMARY KEY (audit, image_id, position),
    FOREIGN KEY (audit, image_id) REFERENCES audit_images (audit, image_id)
);
"""

_RELABEL_TABLES = """
CREATE TABLE IF NOT EXISTS audit_decisions (
    id INTEGER PRIMARY KEY,
    audit INTEGER NOT NULL REFERENCES audits (number),
    image_id INTEGER NOT NULL REFERENCES images (id),
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'fix', 'send_back')),
    note TEXT,
    decided_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS relabels (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images (id),
    audit INTEGER REFERENCES audits (number),
    reason TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    round INTEGER REFERENCES rounds (number),
    resolved_at TEXT
);
CREATE TABLE IF NOT EXISTS label_history (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images (id),
    round INTEGER NOT NULL,
    source TEXT NOT NULL,
    annotator TEXT,
    received_at TEXT NOT NULL,
    label_hash TEXT NOT NULL,
    n_objects INTEGER NOT NULL,
    text TEXT NOT NULL,
    replaced_at TEXT NOT NULL,
    replaced_in_round INTEGER,
    reason TEXT NOT NULL
);
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
""" + _IMAGES_TABLE + """;
CREATE INDEX IF NOT EXISTS images_hash ON images (hash);
CREATE TABLE IF NOT EXISTS rounds (
    number INTEGER PRIMARY KEY,
    strategy TEXT,
    params TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL CHECK (status IN ('selecting', 'staged', 'annotating', 'training',
                                           'done')),
    model_before TEXT, model_before_hash TEXT,
    model_after TEXT, model_after_hash TEXT,
    metrics_before TEXT, metrics_after TEXT,
    n_labeled_before INTEGER, n_labeled_after INTEGER,
    started_at TEXT NOT NULL, finished_at TEXT
);
CREATE TABLE IF NOT EXISTS queries (
    image_id INTEGER PRIMARY KEY REFERENCES images (id),
    round INTEGER NOT NULL REFERENCES rounds (number),
    rank INTEGER NOT NULL,
    score REAL,
    reason TEXT
);
""" + _LABELS_TABLE + """;
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images (id),
    round INTEGER,
    decision TEXT NOT NULL CHECK (decision IN ('label', 'skip', 'flag')),
    note TEXT,
    decided_at TEXT NOT NULL
);
""" + _MONITOR_TABLES + _AUDIT_TABLES + _RELABEL_TABLES


class LedgerError(RuntimeError):
    """A ledger operation that would break its rules (query twice, unknown image, ...)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RoundRecord:
    """One row of ``rounds`` with its JSON fields decoded.

    Attributes:
        number: the round number, 0 = the seed model.
        strategy: the selection strategy's name, or None (the seed round).
        params: the round's parameters (decoded JSON; what the selection reported).
        status: one of :data:`ROUND_STATUSES` (``selecting``, ``staged``, ``annotating``,
            ``training``, ``done``).
        model_before, model_before_hash: the weights the round started from and their hash,
            or None.
        model_after, model_after_hash: the weights the round trained and their hash, or None
            until the round is done.
        metrics_before, metrics_after: the evaluation metrics of those models (decoded JSON),
            or None when not recorded.
        n_labeled_before, n_labeled_after: how many images were labeled when the round
            started / finished (None when not recorded).
        started_at, finished_at: UTC ISO-8601 timestamps (seconds); ``finished_at`` is None
            until the round is done.
    """

    number: int
    strategy: str | None
    params: dict
    status: str
    model_before: str | None
    model_before_hash: str | None
    model_after: str | None
    model_after_hash: str | None
    metrics_before: dict | None
    metrics_after: dict | None
    n_labeled_before: int | None
    n_labeled_after: int | None
    started_at: str
    finished_at: str | None


class Ledger:
    """The SQLite ledger of one project directory (see the module docstring)."""

    def __init__(self, project_dir: str | os.PathLike):
        """Open the ledger ``<project_dir>/project.db`` (a ledger of version 1 to 4 is
        migrated to version 5, one transaction per step). A missing ledger or another schema
        version raises :class:`LedgerError`."""
        self.project_dir = Path(project_dir)
        self.path = self.project_dir / LEDGER_FILE
        if not self.path.exists():
            raise LedgerError(f"{self.path}: no ledger here; create one with Ledger.create or "
                              "`alkit init`")
        self.conn = _connect(self.path)
        version = self.meta().get("schema_version")
        if version == "1":
            _migrate_1_to_2(self.conn)
            version = "2"
        if version == "2":
            _migrate_2_to_3(self.conn)
            version = "3"
        if version == "3":
            _migrate_3_to_4(self.conn)
            version = "4"
        if version == "4":
            _add_tables(self.conn, _RELABEL_TABLES, 5)
        elif version != str(SCHEMA_VERSION):
            raise LedgerError(f"{self.path}: schema version {version}, this alkit reads "
                              f"{SCHEMA_VERSION} (and migrates 1 to 4)")

    @classmethod
    def create(cls, project_dir: str | os.PathLike, *, dataset_yaml: str | os.PathLike,
               names: Sequence[str], **meta: str) -> Ledger:
        """Create a new ledger (refuses to overwrite one) and open it.

        Args:
            project_dir: the project directory (created if missing); the ledger is its
                ``project.db``.
            dataset_yaml: the project's dataset yaml, kept (resolved to an absolute path) in
                the meta table.
            names: the dataset's class names (class id = index), kept as JSON.
            meta: more settings of the project to keep (strings, for example ``pool`` and
                ``scores_dir``).

        The schema and meta rows are written in one transaction.
        """
        project_dir = Path(project_dir)
        project_dir.mkdir(parents=True, exist_ok=True)
        path = project_dir / LEDGER_FILE
        if path.exists():
            raise LedgerError(f"{path}: a ledger already exists; open it with Ledger(...)")
        conn = _connect(path)
        with conn:
            conn.executescript(_SCHEMA)
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
                ("schema_version", str(SCHEMA_VERSION)),
                ("dataset_yaml", str(Path(dataset_yaml).resolve())),
                ("names", json.dumps(list(names))), ("created", _now()),
                *((k, str(v)) for k, v in meta.items())])
        conn.close()
        return cls(project_dir)

    def close(self) -> None:
        """Close the database connection (every write is already committed)."""
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- meta and images

    def meta(self) -> dict[str, str]:
        """The meta table: schema_version, dataset_yaml, names (JSON), created."""
        return dict(self.conn.execute("SELECT key, value FROM meta"))

    @property
    def names(self) -> list[str]:
        """The dataset's class names (class id = index), from the meta table."""
        return json.loads(self.meta()["names"])

    def add_images(self, items: Iterable[tuple[str, str]], *, split: str = "pool") -> int:
        """Register ``(path, hash)`` pairs as unlabeled; known paths are left alone. Returns
        how many were new.

        ``items``: ``(image path, SHA-256 of the file)`` pairs; ``split``: the split they
        join, ``"pool"`` (default), ``"seed"`` or ``"production"``. One transaction, one
        timestamp (a million rows in about 10 s: the rows are streamed, not built as a list
        first)."""
        now = _now()
        rows = ((str(p), h, split, "unlabeled", now) for p, h in items)
        with self.conn:
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO images (path, hash, split, state, added_at) "
                "VALUES (?, ?, ?, ?, ?)", rows)
            return self.conn.total_changes - before

    def image_state(self, image_id: int) -> str:
        """The state of one image (:data:`IMAGE_STATES`); ``image_id``: the ledger's image id
        (an unknown one raises :class:`LedgerError`)."""
        row = self.conn.execute("SELECT state FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise LedgerError(f"image {image_id}: not in the ledger")
        return row[0]

    def image_path(self, image_id: int) -> str:
        """The path of the image ``image_id`` (an unknown id raises :class:`LedgerError`)."""
        row = self.conn.execute("SELECT path FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise LedgerError(f"image {image_id}: not in the ledger")
        return row[0]

    def requeue(self, image_ids: Iterable[int]) -> None:
        """Skipped or flagged images sent to labeling after all become queried again.

        ``image_ids``: the ledger's image ids; an image in any other state is left alone. One
        transaction."""
        with self.conn:
            self.conn.executemany(
                "UPDATE images SET state = 'queried' WHERE id = ? AND state IN "
                "('skipped', 'flagged')", [(i,) for i in image_ids])

    def image_ids(self, paths: Sequence[str]) -> list[int]:
        """Ids of registered paths (raises for an unknown one)."""
        ids = []
        for p in paths:
            row = self.conn.execute("SELECT id FROM images WHERE path = ?", (str(p),)).fetchone()
            if row is None:
                raise LedgerError(f"{p}: not in the ledger")
            ids.append(row[0])
        return ids

    def images(self, *, state: str | None = None,
               split: str | Sequence[str] | None = None) -> list[dict]:
        """Image rows (id, path, hash, split, state), optionally filtered by ``state`` (one of
        :data:`IMAGE_STATES`) and ``split`` (one of :data:`SPLITS`, or several)."""
        query, args = "SELECT id, path, hash, split, state FROM images WHERE 1=1", []
        if state is not None:
            query, args = query + " AND state = ?", [*args, state]
        if split is not None:
            splits = [split] if isinstance(split, str) else list(split)
            query = query + f" AND split IN ({', '.join('?' * len(splits))})"
            args = [*args, *splits]
        cols = ("id", "path", "hash", "split", "state")
        return [dict(zip(cols, row, strict=True)) for row in
                self.conn.execute(query + " ORDER BY id", args)]

    def labeled_totals(self, through_round: int | None = None) -> tuple[int, int]:
        """``(labeled images, their boxes)``: all of them, or those labeled in rounds up to
        ``through_round`` (0: the seed set), as they stood when that round ended."""
        query = "SELECT COUNT(*), COALESCE(SUM(n_objects), 0) FROM labels"
        args = ()
        if through_round is not None:
            query, args = query + " WHERE round <= ?", (int(through_round),)
        row = self.conn.execute(query, args).fetchone()
        return int(row[0]), int(row[1])

    def counts(self) -> dict[str, int]:
        """Images per state."""
        counts = dict.fromkeys(IMAGE_STATES, 0)
        counts.update(self.conn.execute("SELECT state, COUNT(*) FROM images GROUP BY state"))
        return counts

    # ---- rounds

    def start_round(self, number: int, *, strategy: str | None, params: dict,
                    model_before: str | None, model_before_hash: str | None,
                    metrics_before: dict | None) -> None:
        """Open round ``number`` (status ``selecting``), in one transaction.

        Args:
            number: the round number, 0 = the seed model.
            strategy: the selection strategy's name, or None.
            params: the round's parameters (stored as JSON).
            model_before: the weights the round starts from, or None.
            model_before_hash: their hash, or None.
            metrics_before: their evaluation metrics (stored as JSON), or None.

        ``n_labeled_before`` is the number of labeled images now.
        """
        with self.conn:
            self.conn.execute(
                "INSERT INTO rounds (number, strategy, params, status, model_before, "
                "model_before_hash, metrics_before, n_labeled_before, started_at) "
                "VALUES (?, ?, ?, 'selecting', ?, ?, ?, ?, ?)",
                (number, strategy, json.dumps(params), model_before, model_before_hash,
                 json.dumps(metrics_before) if metrics_before is not None else None,
                 self.counts()["labeled"], _now()))
        pause_point("round.selecting")

    def set_round_status(self, number: int, status: str) -> None:
        """Move round ``number`` to ``status``, one of :data:`ROUND_STATUSES` (another
        raises :class:`LedgerError`)."""
        if status not in ROUND_STATUSES:
            raise LedgerError(f"unknown round status {status!r}")
        with self.conn:
            self.conn.execute("UPDATE rounds SET status = ? WHERE number = ?", (status, number))
        pause_point(f"round.{status}")

    def record_finished_round(self, number: int, *, strategy: str | None, params: dict,
                              model_before: str | None, model_before_hash: str | None,
                              model_after: str, model_after_hash: str,
                              metrics_after: dict) -> None:
        """Open and close round ``number`` in one transaction: a round whose model exists
        already (a seed model shared by several projects).

        Args:
            number: the round number, 0 = the seed model.
            strategy: the selection strategy's name, or None.
            params: the round's parameters (stored as JSON).
            model_before, model_before_hash: the weights it started from and their hash, or
                None.
            model_after, model_after_hash: the existing trained weights and their hash.
            metrics_after: their evaluation metrics (stored as JSON).

        The round is recorded ``done`` with ``n_labeled_before`` and ``n_labeled_after`` both
        the number of labeled images now; ``metrics_before`` is left empty.
        """
        with self.conn:
            self.conn.execute(
                "INSERT INTO rounds (number, strategy, params, status, model_before, "
                "model_before_hash, model_after, model_after_hash, metrics_after, "
                "n_labeled_before, n_labeled_after, started_at, finished_at) "
                "VALUES (?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (number, strategy, json.dumps(params), model_before, model_before_hash,
                 model_after, model_after_hash, json.dumps(metrics_after),
                 self.counts()["labeled"], self.counts()["labeled"], _now(), _now()))

    def finish_round(self, number: int, *, model_after: str, model_after_hash: str,
                     metrics_after: dict) -> None:
        """Record the round's trained model and metrics, and close it (status ``done``), in
        one transaction.

        Args:
            number: the round number.
            model_after: the trained weights.
            model_after_hash: their hash.
            metrics_after: their evaluation metrics (stored as JSON).

        ``n_labeled_after`` is the number of labeled images now.
        """
        with self.conn:
            self.conn.execute(
                "UPDATE rounds SET status = 'done', model_after = ?, model_after_hash = ?, "
                "metrics_after = ?, n_labeled_after = ?, finished_at = ? WHERE number = ?",
                (model_after, model_after_hash, json.dumps(metrics_after),
                 self.counts()["labeled"], _now(), number))
        pause_point("round.done")

    def rounds(self) -> list[RoundRecord]:
        """Every round, in order."""
        rows = self.conn.execute(
            "SELECT number, strategy, params, status, model_before, model_before_hash, "
            "model_after, model_after_hash, metrics_before, metrics_after, n_labeled_before, "
            "n_labeled_after, started_at, finished_at FROM rounds ORDER BY number")
        return [RoundRecord(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6], r[7],
                            json.loads(r[8]) if r[8] else None, json.loads(r[9]) if r[9] else None,
                            r[10], r[11], r[12], r[13]) for r in rows]

    def last_round(self) -> RoundRecord | None:
        """The highest-numbered round, or None before the first."""
        rounds = self.rounds()
        return rounds[-1] if rounds else None

    # ---- queries, labels, decisions

    def record_queries(self, number: int, image_ids: Sequence[int], scores: Sequence[float],
                       reasons: Sequence[str], *, params: dict | None = None) -> None:
        """Record a round's picks and mark them queried, in one transaction; the round
        becomes ``staged`` (``params``, when given, replace the round's parameters: what the
        selection reported). An image already queried or labeled is refused.

        Args:
            number: the round number.
            image_ids: the picks' ledger image ids, best first (rank 1, 2, ...).
            scores: each pick's selection score.
            reasons: why each was picked.
            params: see above; None leaves the round's parameters as they are.

        The three sequences must have the same length. A refused image (or any error) rolls
        the whole transaction back: no pick of the call is recorded.
        """
        with self.conn:
            if params is not None:
                self.conn.execute("UPDATE rounds SET params = ? WHERE number = ?",
                                  (json.dumps(params), number))
            for rank, (image_id, score, reason) in enumerate(
                    zip(image_ids, scores, reasons, strict=True), start=1):
                state = self.conn.execute("SELECT state FROM images WHERE id = ?",
                                          (image_id,)).fetchone()
                if state is None or state[0] != "unlabeled":
                    raise LedgerError(f"image {image_id} cannot be queried (state "
                                      f"{state[0] if state else 'unknown'})")
                self.conn.execute("INSERT INTO queries (image_id, round, rank, score, reason) "
                                  "VALUES (?, ?, ?, ?, ?)",
                                  (image_id, number, rank, float(score), reason))
                self.conn.execute("UPDATE images SET state = 'queried' WHERE id = ?",
                                  (image_id,))
            self.conn.execute("UPDATE rounds SET status = 'staged' WHERE number = ?", (number,))
        pause_point("round.staged")

    def queries(self, number: int) -> list[dict]:
        """The picks of round ``number`` in rank order, with their paths and whether they are
        labeled: dicts with ``image_id``, ``path``, ``rank``, ``score``, ``reason``,
        ``state``."""
        rows = self.conn.execute(
            "SELECT q.image_id, i.path, q.rank, q.score, q.reason, i.state FROM queries q "
            "JOIN images i ON i.id = q.image_id WHERE q.round = ? ORDER BY q.rank", (number,))
        cols = ("image_id", "path", "rank", "score", "reason", "state")
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def record_label(self, image_id: int, *, round_number: int, source: str, label_path: str,
                     label_hash: str, n_objects: int, annotator: str | None = None) -> bool:
        """Record a received label (one transaction). Returns False, changing nothing, when
        the image already has one: importing the same label twice is a no-op.

        Args:
            image_id: the ledger's image id; it becomes ``labeled``.
            round_number: the round the label belongs to (0 = the seed labels).
            source: the annotator that gave it (:data:`LABEL_SOURCES` or any annotator's own
                name); an empty one raises :class:`LedgerError`.
            label_path: where the YOLO label file was written.
            label_hash: the hash of that file.
            n_objects: its number of boxes.
            annotator: who labeled it (a user name or id), when known.
        """
        if not isinstance(source, str) or not source.strip():
            raise LedgerError(f"a label needs a source (the annotator's name), got {source!r}")
        with self.conn:
            exists = self.conn.execute("SELECT 1 FROM labels WHERE image_id = ?",
                                       (image_id,)).fetchone()
            if exists:
                return False
            self.conn.execute(
                "INSERT INTO labels (image_id, round, source, annotator, received_at, "
                "label_path, label_hash, n_objects) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (image_id, round_number, source, annotator, _now(), label_path, label_hash,
                 n_objects))
            self.conn.execute("UPDATE images SET state = 'labeled' WHERE id = ?", (image_id,))
        pause_point("label.recorded")
        return True

    def labeled(self) -> list[dict]:
        """Labeled images with their label files, in label order: dicts with ``image_id``,
        ``path``, ``label_path``, ``source``, ``round``, ``label_hash``."""
        rows = self.conn.execute(
            "SELECT i.id, i.path, l.label_path, l.source, l.round, l.label_hash FROM labels l "
            "JOIN images i ON i.id = l.image_id ORDER BY l.rowid")
        cols = ("image_id", "path", "label_path", "source", "round", "label_hash")
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def record_decision(self, image_id: int, decision: str, *, round_number: int | None = None,
                        note: str = "") -> None:
        """A review decision (label / skip / flag), written at once. Skip and flag also set
        the image's state so it is not picked again.

        Args:
            image_id: the ledger's image id (a labeled image keeps its state).
            decision: ``"label"``, ``"skip"`` or ``"flag"``.
            round_number: the round under review, or None.
            note: the reviewer's free-text note (default empty).

        The decision row and the state change are one transaction. An unknown decision raises
        :class:`LedgerError` and writes nothing.
        """
        if decision not in ("label", "skip", "flag"):
            raise LedgerError(f"unknown decision {decision!r}; expected 'label', 'skip' or "
                              "'flag'")
        with self.conn:
            self.conn.execute(
                "INSERT INTO decisions (image_id, round, decision, note, decided_at) "
                "VALUES (?, ?, ?, ?, ?)", (image_id, round_number, decision, note, _now()))
            if decision in ("skip", "flag"):
                self.conn.execute(
                    "UPDATE images SET state = ? WHERE id = ? AND state != 'labeled'",
                    ("skipped" if decision == "skip" else "flagged", image_id))


    def decisions(self, number: int) -> list[dict]:
        """Every review decision of round ``number`` in the order made: dicts with
        ``image_id``, ``decision``, ``note``, ``decided_at``."""
        rows = self.conn.execute(
            "SELECT image_id, decision, note, decided_at FROM decisions WHERE round = ? "
            "ORDER BY id", (number,))
        cols = ("image_id", "decision", "note", "decided_at")
        return [dict(zip(cols, row, strict=True)) for row in rows]


    # ---- production monitoring

    def known_hashes(self, hashes: Iterable[str]) -> set[str]:
        """The ones of ``hashes`` (SHA-256 of image files) that some registered image has."""
        found: set[str] = set()
        for h in set(hashes):
            if self.conn.execute("SELECT 1 FROM images WHERE hash = ? LIMIT 1",
                                 (h,)).fetchone():
                found.add(h)
        return found

    def record_monitor_batch(self, batch: dict, rows: Sequence[dict],
                             sent: Sequence[int]) -> int:
        """Record one monitored batch, its images and the ones sent for relabeling, in ONE
        transaction: a process killed before the commit leaves no trace of the batch.

        Args:
            batch: the ``monitor_batches`` columns except ``number`` and ``recorded_at``
                (``stats`` as a dict, stored as JSON). Its ``name`` must be new.
            rows: one dict per image of the batch, in order: ``path``, ``hash``,
                ``timestamp``, ``status`` (``scored`` / ``skipped``), ``reason``,
                ``max_confidence``, ``flagged``.
            sent: positions (indices into ``rows``) of the images sent for relabeling; each
                is registered as an unlabeled image of the ``production`` split (a path
                already registered raises :class:`LedgerError` and nothing is written).

        Returns:
            The batch's number (0, 1, ... in the order recorded).
        """
        with self.conn:
            if self.conn.execute("SELECT 1 FROM monitor_batches WHERE name = ?",
                                 (batch["name"],)).fetchone():
                raise LedgerError(f"batch {batch['name']!r} is already recorded")
            row = self.conn.execute("SELECT COALESCE(MAX(number) + 1, 0) FROM monitor_batches"
                                    ).fetchone()
            number = int(row[0])
            columns = ("name", "content_key", "model", "model_hash", "first_timestamp",
                       "last_timestamp", "n_images", "n_scored", "n_skipped", "n_flagged",
                       "n_sent", "flag_threshold")
            self.conn.execute(
                f"INSERT INTO monitor_batches (number, recorded_at, stats, {', '.join(columns)}) "
                f"VALUES (?, ?, ?, {', '.join('?' * len(columns))})",
                (number, _now(), json.dumps(batch["stats"]), *(batch[c] for c in columns)))
            image_ids: dict[int, int] = {}
            for position in sent:
                path, digest = rows[position]["path"], rows[position]["hash"]
                if self.conn.execute("SELECT 1 FROM images WHERE path = ?",
                                     (path,)).fetchone():
                    raise LedgerError(f"{path}: already in the ledger; not sent twice")
                cursor = self.conn.execute(
                    "INSERT INTO images (path, hash, split, state, added_at) "
                    "VALUES (?, ?, 'production', 'unlabeled', ?)", (path, digest, _now()))
                image_ids[position] = int(cursor.lastrowid)
            self.conn.executemany(
                "INSERT INTO monitor_images (batch, position, path, hash, timestamp, status, "
                "reason, max_confidence, flagged, image_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(number, i, r["path"], r["hash"], r["timestamp"], r["status"], r["reason"],
                  r["max_confidence"], None if r["flagged"] is None else int(r["flagged"]),
                  image_ids.get(i)) for i, r in enumerate(rows)])
        pause_point("monitor.batch")
        return number

    def monitor_batches(self) -> list[dict]:
        """Every monitored batch in order: dicts of the ``monitor_batches`` columns, ``stats``
        decoded."""
        cursor = self.conn.execute("SELECT * FROM monitor_batches ORDER BY number")
        cols = [c[0] for c in cursor.description]
        out = [dict(zip(cols, row, strict=True)) for row in cursor]
        for record in out:
            record["stats"] = json.loads(record["stats"])
        return out

    def monitor_images(self, batch: int) -> list[dict]:
        """The images of monitored batch number ``batch`` in order: dicts of the
        ``monitor_images`` columns (``flagged`` as bool or None)."""
        cursor = self.conn.execute("SELECT * FROM monitor_images WHERE batch = ? "
                                   "ORDER BY position", (batch,))
        cols = [c[0] for c in cursor.description]
        out = [dict(zip(cols, row, strict=True)) for row in cursor]
        for record in out:
            record["flagged"] = None if record["flagged"] is None else bool(record["flagged"])
        return out

    # ---- label audits

    def record_audit(self, audit: dict, images: Sequence[dict], boxes: Sequence[dict]) -> int:
        """Record one label audit, its images and its suspect boxes, in ONE transaction: an
        error on any row (or a process killed before the commit) leaves no trace of it.

        Args:
            audit: the ``audits`` columns ``round``, ``model``, ``model_hash``, ``n_inferred``
                and ``settings`` (a dict, stored as JSON); ``n_images`` and ``n_flagged`` are
                counted from ``images``.
            images: one dict per audited image: ``image_id``, ``rank``, ``score``,
                ``overlooked``, ``swap``, ``badloc``, ``flagged``, ``n_labels``,
                ``n_predictions``, ``label_hash``.
            boxes: one dict per box finding: ``image_id``, ``kind`` (overlooked / swap /
                badloc), ``score``, ``flagged``, ``label_index``, ``label_class``,
                ``label_xyxy`` and ``pred_xyxy`` (4 numbers, NaN or None for none),
                ``pred_class``, ``pred_confidence``; its image must be among ``images``.

        Returns:
            The audit's number (0, 1, ... in the order recorded).
        """
        def real(value):
            return None if value is None or value != value else float(value)  # NaN -> NULL

        def box4(values):
            return [real(v) for v in (values if values is not None else (None,) * 4)]

        with self.conn:
            number = int(self.conn.execute("SELECT COALESCE(MAX(number) + 1, 0) FROM audits"
                                            ).fetchone()[0])
            self.conn.execute(
                "INSERT INTO audits (number, round, model, model_hash, recorded_at, n_images, "
                "n_flagged, n_inferred, settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (number, int(audit["round"]), str(audit["model"]), str(audit["model_hash"]),
                 _now(), len(images), sum(bool(r["flagged"]) for r in images),
                 int(audit["n_inferred"]), json.dumps(audit["settings"])))
            self.conn.executemany(
                "INSERT INTO audit_images (audit, image_id, rank, score, overlooked, swap, "
                "badloc, flagged, n_labels, n_predictions, label_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(number, int(r["image_id"]), int(r["rank"]), float(r["score"]),
                  float(r["overlooked"]), float(r["swap"]), float(r["badloc"]),
                  int(bool(r["flagged"])), int(r["n_labels"]), int(r["n_predictions"]),
                  r.get("label_hash")) for r in images])
            positions: dict[int, int] = {}
            rows = []
            for r in boxes:
                image_id = int(r["image_id"])
                positions[image_id] = positions.get(image_id, -1) + 1
                label_class = r.get("label_class")
                pred_class = r.get("pred_class")
                label_index = r.get("label_index")
                rows.append((number, image_id, positions[image_id], r["kind"], float(r["score"]),
                             int(bool(r["flagged"])),
                             None if label_index is None or label_index < 0 else label_index,
                             None if label_class is None or label_class < 0 else label_class,
                             *box4(r.get("label_xyxy")),
                             None if pred_class is None or pred_class < 0 else pred_class,
                             real(r.get("pred_confidence")), *box4(r.get("pred_xyxy"))))
            self.conn.executemany(
                "INSERT INTO audit_boxes (audit, image_id, position, kind, score, flagged, "
                "label_index, label_class, label_x1, label_y1, label_x2, label_y2, pred_class, "
                "pred_confidence, pred_x1, pred_y1, pred_x2, pred_y2) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        pause_point("audit.recorded")
        return number

    def audits(self) -> list[dict]:
        """Every recorded audit in order: dicts of the ``audits`` columns, ``settings``
        decoded."""
        cursor = self.conn.execute("SELECT * FROM audits ORDER BY number")
        cols = [c[0] for c in cursor.description]
        out = [dict(zip(cols, row, strict=True)) for row in cursor]
        for record in out:
            record["settings"] = json.loads(record["settings"])
        return out

    def audit_images(self, number: int) -> list[dict]:
        """The images of audit ``number``, most likely mislabeled first: dicts of the
        ``audit_images`` columns with the image's ``path`` (``flagged`` as bool)."""
        cursor = self.conn.execute(
            "SELECT a.*, i.path FROM audit_images a JOIN images i ON i.id = a.image_id "
            "WHERE a.audit = ? ORDER BY a.rank", (number,))
        cols = [c[0] for c in cursor.description]
        out = [dict(zip(cols, row, strict=True)) for row in cursor]
        for record in out:
            record["flagged"] = bool(record["flagged"])
        return out

    def audit_boxes(self, number: int, image_id: int | None = None) -> list[dict]:
        """The box findings of audit ``number`` (of one image with ``image_id``), by image
        rank, then lowest score first: dicts of the ``audit_boxes`` columns (``flagged`` as
        bool)."""
        query = ("SELECT b.* FROM audit_boxes b JOIN audit_images a ON a.audit = b.audit AND "
                 "a.image_id = b.image_id WHERE b.audit = ?")
        args: list = [number]
        if image_id is not None:
            query, args = query + " AND b.image_id = ?", [*args, int(image_id)]
        cursor = self.conn.execute(query + " ORDER BY a.rank, b.score, b.position", args)
        cols = [c[0] for c in cursor.description]
        out = [dict(zip(cols, row, strict=True)) for row in cursor]
        for record in out:
            record["flagged"] = bool(record["flagged"])
        return out

    # ---- relabeling (suspects sent back, labels replaced; history kept)

    def record_audit_decision(self, audit: int, image_id: int, decision: str,
                              note: str = "") -> None:
        """What a person decided about image ``image_id`` of audit ``audit``: ``"accept"``
        (the label stands), ``"fix"`` (corrected by hand) or ``"send_back"`` (relabel in the
        next round), with a free-text ``note``. The image must be in that audit; the latest
        decision counts."""
        if decision not in ("accept", "fix", "send_back"):
            raise LedgerError(f"unknown audit decision {decision!r}; expected 'accept', 'fix' "
                              "or 'send_back'")
        with self.conn:
            self._require_audited(audit, image_id)
            self.conn.execute(
                "INSERT INTO audit_decisions (audit, image_id, decision, note, decided_at) "
                "VALUES (?, ?, ?, ?, ?)", (audit, image_id, decision, note, _now()))

    def _require_audited(self, audit: int, image_id: int) -> None:
        if not self.conn.execute("SELECT 1 FROM audit_images WHERE audit = ? AND image_id = ?",
                                 (audit, image_id)).fetchone():
            raise LedgerError(f"image {image_id} is not in audit {audit}")

    def audit_decisions(self, audit: int) -> dict[int, dict]:
        """The latest decision per image of audit ``audit``: ``{image_id: {"decision",
        "note", "decided_at"}}`` (undecided images are absent)."""
        rows = self.conn.execute(
            "SELECT image_id, decision, note, decided_at FROM audit_decisions WHERE audit = ? "
            "ORDER BY id", (audit,))
        return {row[0]: {"decision": row[1], "note": row[2], "decided_at": row[3]}
                for row in rows}

    def request_relabel(self, image_id: int, reason: str, *, audit: int | None = None) -> int:
        """Send the labeled image ``image_id`` back for relabeling with a ``reason`` the
        annotator reads (one transaction, with an audit decision
        ``send_back`` when ``audit`` is given). The request waits for the next round's
        annotation job (:meth:`assign_relabels`). An image with an open request keeps it (the
        reason is not changed). Returns the request's id.

        Raises :class:`LedgerError` for an image without a label or an empty ``reason``."""
        if not reason or not reason.strip():
            raise LedgerError("a relabel request needs a reason the annotator can read")
        if self.image_state(image_id) != "labeled":
            raise LedgerError(f"image {image_id} has no label to send back")
        with self.conn:
            if audit is not None:
                self._require_audited(audit, image_id)
                self.conn.execute(
                    "INSERT INTO audit_decisions (audit, image_id, decision, note, decided_at) "
                    "VALUES (?, ?, 'send_back', ?, ?)", (audit, image_id, reason, _now()))
            row = self.conn.execute("SELECT id FROM relabels WHERE image_id = ? AND "
                                    "resolved_at IS NULL", (image_id,)).fetchone()
            if row:
                return row[0]
            return self.conn.execute(
                "INSERT INTO relabels (image_id, audit, reason, requested_at) "
                "VALUES (?, ?, ?, ?)", (image_id, audit, reason, _now())).lastrowid

    def assign_relabels(self, number: int) -> int:
        """Give round ``number``'s annotation job every open request not yet carried by a
        round, except those from audits of round ``number`` itself or later (they wait for
        the round after). Returns how many were assigned (one transaction)."""
        with self.conn:
            return self.conn.execute(
                "UPDATE relabels SET round = ? WHERE round IS NULL AND resolved_at IS NULL AND "
                "(audit IS NULL OR (SELECT a.round FROM audits a WHERE a.number = audit) < ?)",
                (number, number)).rowcount

    def relabels(self, *, round: int | None = None, open_only: bool = False) -> list[dict]:
        """Relabel requests in the order made, with the image's ``path``: dicts of the
        ``relabels`` columns; those carried by round ``round`` only, and only unresolved ones
        with ``open_only``."""
        query = ("SELECT r.id, r.image_id, i.path, r.audit, r.reason, r.requested_at, r.round, "
                 "r.resolved_at FROM relabels r JOIN images i ON i.id = r.image_id WHERE 1=1")
        args: list = []
        if round is not None:
            query, args = query + " AND r.round = ?", [round]
        if open_only:
            query += " AND r.resolved_at IS NULL"
        cursor = self.conn.execute(query + " ORDER BY r.id", args)
        cols = [c[0] for c in cursor.description]
        return [dict(zip(cols, row, strict=True)) for row in cursor]

    def label_of(self, image_id: int) -> dict | None:
        """The current ``labels`` row of the image ``image_id`` (a dict), or None."""
        cursor = self.conn.execute("SELECT * FROM labels WHERE image_id = ?", (image_id,))
        row = cursor.fetchone()
        return None if row is None else dict(zip([c[0] for c in cursor.description], row,
                                                 strict=True))

    def replace_label(self, image_id: int, *, old_text: str, source: str, label_hash: str,
                      n_objects: int, reason: str, annotator: str | None = None,
                      round_number: int | None = None, audit: int | None = None) -> bool:
        """Replace the label of the labeled image ``image_id``, in ONE transaction, for a
        ``reason`` kept in the history: the old ``labels`` row
        with ``old_text`` (its file's content) goes to ``label_history``, the row takes the new
        ``source``, ``annotator``, ``label_hash`` and ``n_objects`` (it keeps the round the
        image joined the labeled set in), the image's open relabel request is resolved, and a
        ``fix`` decision is recorded when ``audit`` is given. ``round_number``: the round whose
        job brought the new label (None: fixed outside a round). Returns False when the label
        already has ``label_hash`` (the annotator confirmed it, or a repeated call): nothing is
        replaced, and an open relabel request is resolved all the same."""
        current = self.label_of(image_id)
        if current is None:
            raise LedgerError(f"image {image_id} has no label to replace")
        now = _now()
        if current["label_hash"] == label_hash:  # confirmed as it is, or a repeated call
            with self.conn:
                self.conn.execute("UPDATE relabels SET resolved_at = ? WHERE image_id = ? AND "
                                  "resolved_at IS NULL", (now, image_id))
            return False
        with self.conn:
            self.conn.execute(
                "INSERT INTO label_history (image_id, round, source, annotator, received_at, "
                "label_hash, n_objects, text, replaced_at, replaced_in_round, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (image_id, current["round"], current["source"], current["annotator"],
                 current["received_at"], current["label_hash"], current["n_objects"], old_text,
                 now, round_number, reason))
            self.conn.execute(
                "UPDATE labels SET source = ?, annotator = ?, received_at = ?, label_hash = ?, "
                "n_objects = ? WHERE image_id = ?",
                (source, annotator, now, label_hash, n_objects, image_id))
            self.conn.execute("UPDATE relabels SET resolved_at = ? WHERE image_id = ? AND "
                              "resolved_at IS NULL", (now, image_id))
            if audit is not None:
                self._require_audited(audit, image_id)
                self.conn.execute(
                    "INSERT INTO audit_decisions (audit, image_id, decision, note, decided_at) "
                    "VALUES (?, ?, 'fix', ?, ?)", (audit, image_id, reason, now))
        pause_point("label.replaced")
        return True

    def label_history(self, image_id: int | None = None) -> list[dict]:
        """Replaced labels, oldest first (of one image with ``image_id``): dicts of the
        ``label_history`` columns."""
        query, args = "SELECT * FROM label_history", ()
        if image_id is not None:
            query, args = query + " WHERE image_id = ?", (int(image_id),)
        cursor = self.conn.execute(query + " ORDER BY id", args)
        cols = [c[0] for c in cursor.description]
        return [dict(zip(cols, row, strict=True)) for row in cursor]


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 2 lets any annotator name itself as a label's source (version 1 allowed five
    names). SQLite cannot drop a CHECK: the labels table is rebuilt, in one transaction (the
    DDL included, so a crash leaves version 1 as it was)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("ALTER TABLE labels RENAME TO labels_v1")
        conn.execute(_LABELS_TABLE)
        conn.execute("INSERT INTO labels SELECT * FROM labels_v1")
        conn.execute("DROP TABLE labels_v1")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _migrate_2_to_3(conn: sqlite3.Connection) -> None:
    """Version 3 adds the ``production`` split and the monitor tables. The images table is
    rebuilt (SQLite's documented procedure: new table, copy, drop, rename, with foreign keys
    off so the rows of queries / labels / decisions that point at it stay as they are), all in
    one transaction: a crash leaves version 2 as it was."""
    conn.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_IMAGES_TABLE.replace("EXISTS images", "EXISTS images_v3"))
        conn.execute("INSERT INTO images_v3 SELECT * FROM images")
        conn.execute("DROP TABLE images")
        conn.execute("ALTER TABLE images_v3 RENAME TO images")
        conn.execute("CREATE INDEX IF NOT EXISTS images_hash ON images (hash)")
        for statement in _MONITOR_TABLES.split(";"):
            if statement.strip():
                conn.execute(statement)
        problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise LedgerError(f"migration to version 3: broken references {problems[:5]}")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    except BaseException:
        conn.execute("ROLLBACK")
        conn.execute("PRAGMA foreign_keys=ON")
        raise
    conn.execute("COMMIT")
    conn.execute("PRAGMA foreign_keys=ON")


def _migrate_3_to_4(conn: sqlite3.Connection) -> None:
    """Version 4 adds the audit tables (``audits``, ``audit_images``, ``audit_boxes``)."""
    _add_tables(conn, _AUDIT_TABLES, 4)


def _add_tables(conn: sqlite3.Connection, tables: str, version: int) -> None:
    """Create ``tables`` (``;``-separated DDL) and set the schema ``version`` in one
    transaction: a crash leaves the previous version as it was. Version 5 adds the relabeling
    tables (``audit_decisions``, ``relabels``, ``label_history``)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in tables.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _connect(path: Path) -> sqlite3.Connection:
    # check_same_thread=False: a JupyterLab kernel may run a widget's callback (a box editor
    # opened from the suspects view) on another thread than the cell that opened the project;
    # the calls still come one at a time, and every write is its own transaction
    conn = sqlite3.connect(path, timeout=30, isolation_level="DEFERRED",
                           check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn
