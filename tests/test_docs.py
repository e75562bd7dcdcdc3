"""Every public callable of alkit is documented (a user reads docstrings in notebooks)."""

import importlib
import inspect
import pkgutil

import alkit

MODULES = [importlib.import_module(f"alkit.{m.name}") for m in pkgutil.iter_modules(alkit.__path__)]


def _public(module):
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            yield f"{module.__name__}.{name}", obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and inspect.isfunction(member):
                        yield f"{module.__name__}.{name}.{attr}", member


def test_every_module_has_a_docstring():
    assert [m.__name__ for m in MODULES if not (m.__doc__ or "").strip()] == []


def test_every_public_function_and_class_has_a_docstring():
    missing = [name for module in MODULES for name, obj in _public(module)
               if not (inspect.getdoc(obj) or "").strip()]
    assert missing == []
