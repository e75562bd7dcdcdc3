"""The layout shows the layers: every module imports only from its own layer or the layers
before it (function-level imports included), and the public API is flat."""

import ast
import subprocess
import sys
from pathlib import Path

import alkit

PACKAGE = Path(alkit.__file__).parent
#: The layers, bottom first: a module may import from its own layer and those before it.
LAYERS = ("core", "data", "viz", "model", "annotate", "loop", "ui", "cli")


def _layer(module: str) -> int | None:
    """The layer of a module name; None for the package root and names outside the layers
    (``__version__``)."""
    parts = module.split(".")
    if parts[0] != "alkit" or len(parts) < 2 or parts[1] not in LAYERS:
        return None
    return LAYERS.index(parts[1])


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, imported alkit module or name)`` for every import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "alkit":
            found += [(node.lineno, f"alkit.{a.name}") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("alkit."):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("alkit")]
    return found


def test_every_import_goes_down_the_layers():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        own = _layer(module)
        if own is None:
            continue
        for line, name in _imports(path):
            target = _layer(name)
            if target is not None and target > own:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert upward == []


def test_the_pure_core_imports_no_file_or_model_code():
    heavy = ("ultralytics", "torch", "PIL", "yaml", "sqlite3", "ipywidgets", "matplotlib")
    offenders = []
    for path in sorted((PACKAGE / "core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in heavy]
    assert offenders == []


def test_the_loop_objects_import_from_alkit():
    for name in ("Project", "Query", "Recipe", "RoundConfig", "Selection", "History",
                 "Annotator", "Oracle", "FolderAnnotator", "LabelStudioAnnotator",
                 "Experiment", "run_starter", "analyze", "round_config"):
        assert hasattr(alkit, name) and name in alkit.__all__, name
    assert sorted(alkit.__all__) == sorted(set(alkit.__all__))


def test_importing_alkit_does_not_import_ultralytics():
    code = "import sys, alkit; print('ultralytics' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr
