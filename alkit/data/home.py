"""Where alkit keeps its own files (no ultralytics import, so every module can use it)."""

from __future__ import annotations

import os
from pathlib import Path


def alkit_home() -> Path:
    """alkit's own directory for caches and runs: ``$ALKIT_HOME`` or ``~/.cache/alkit``."""
    if os.environ.get("ALKIT_HOME"):
        return Path(os.environ["ALKIT_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "alkit"


def default_runs_dir() -> Path:
    """Where training runs go unless a call says otherwise: ``$ALKIT_RUNS_DIR`` or home/runs."""
    if os.environ.get("ALKIT_RUNS_DIR"):
        return Path(os.environ["ALKIT_RUNS_DIR"]).expanduser()
    return alkit_home() / "runs"
