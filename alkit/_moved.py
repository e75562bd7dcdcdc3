"""Modules and names that moved when the package was split into layers, and the import hook
that keeps the old imports working with a warning that names the new place."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: old module -> new module
MOVED_MODULES = {
    "alkit.detections": "alkit.core.detections",
    "alkit.uncertainty": "alkit.core.uncertainty",
    "alkit.selection": "alkit.core.selection",
    "alkit.curves": "alkit.core.curves",
    "alkit.stopping": "alkit.core.stopping",
    "alkit.datasets": "alkit.data.datasets",
    "alkit.validation": "alkit.data.validation",
    "alkit.samples": "alkit.data.samples",
    "alkit.home": "alkit.data.home",
    "alkit.netguard": "alkit.data.netguard",
    "alkit.plots": "alkit.viz.plots",
    "alkit.yolo": "alkit.model.yolo",
    "alkit.scoring": "alkit.model.scoring",
    "alkit.committee": "alkit.model.committee",
    "alkit.oracle": "alkit.annotate.simulated",
    "alkit.labelstudio": "alkit.annotate.labelstudio",
    "alkit.ledger": "alkit.loop.ledger",
    "alkit.rounds": "alkit.loop.project",
    "alkit.simulate": "alkit.loop.simulate",
    "alkit.starter": "alkit.loop.starter",
    "alkit.review": "alkit.ui.review",
    "alkit.widgets": "alkit.ui.widgets",
}


def warn_moved(old: str, new: str, stacklevel: int = 3) -> None:
    """A ``FutureWarning`` (shown by default) that ``old`` is now ``new``."""
    warnings.warn(f"{old} moved to {new}; import it from there (or from alkit)", FutureWarning,
                  stacklevel=stacklevel)


def moved_attribute(module: str, name: str, moved: dict[str, str]):
    """For a module's ``__getattr__``: the object ``name`` that moved to ``moved[name]``
    (a module path), with a warning; AttributeError for anything else."""
    if name not in moved:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warn_moved(f"{module}.{name}", f"{moved[name]}.{name}")
    return getattr(importlib.import_module(moved[name]), name)


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as its new module (the same module object)."""

    def __init__(self):
        self._own_specs: dict = {}

    def find_spec(self, fullname, path=None, target=None):
        """A spec for an old module name; None for every other module."""
        if fullname in MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        """The new module itself (imported if needed), after the warning."""
        warn_moved(spec.name, MOVED_MODULES[spec.name], stacklevel=6)
        module = importlib.import_module(MOVED_MODULES[spec.name])
        self._own_specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module) -> None:
        """Nothing to run (the new module is executed already); only its own ``__spec__``,
        which the import system replaced by the old name's, is put back."""
        module.__spec__ = self._own_specs[module.__name__]


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
