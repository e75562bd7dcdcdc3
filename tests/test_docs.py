"""The documentation is true: every public callable of alkit is documented down to its
arguments, and every command and Python import shown in README.md and docs/ exists.

Commands in fenced ``bash`` / ``console`` / ``sh`` blocks are checked without running them:
``alkit ...`` lines are parsed by alkit's own argument parser (so every subcommand and flag
must exist), ``benchmarks/*.py`` lines by the script's parser, ``make X`` targets must be in
the Makefile. In ``python`` blocks every ``from alkit... import name`` must resolve.
"""

import ast
import importlib
import inspect
import pkgutil
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import alkit
from alkit import cli

ROOT = Path(__file__).resolve().parents[1]
MODULES = [importlib.import_module(m.name)
           for m in pkgutil.walk_packages(alkit.__path__, "alkit.")
           if not m.name.rsplit(".", 1)[-1].startswith("_")]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _public(module):
    """``(qualified name, object, docstring that must document it)`` of every public
    function, class and method defined in ``module``."""
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        qualified = f"{module.__name__}.{name}"
        if inspect.isfunction(obj):
            yield qualified, obj, inspect.getdoc(obj)
        elif inspect.isclass(obj):
            class_doc = inspect.getdoc(obj) or ""
            yield qualified, obj, class_doc
            init = vars(obj).get("__init__")
            if inspect.isfunction(init):
                yield f"{qualified}.__init__", init, (inspect.getdoc(init) or "") + class_doc
            for attr, member in vars(obj).items():
                function = getattr(member, "__func__", member)
                if not attr.startswith("_") and inspect.isfunction(function):
                    yield f"{qualified}.{attr}", function, inspect.getdoc(function)


def _arguments(obj) -> list[str]:
    """The public parameter names of a callable (a class's are checked on its __init__,
    which for a dataclass is the generated one: its fields)."""
    if inspect.isclass(obj):
        return []
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.name not in ("self", "cls")
            and not p.name.startswith("_")]


def test_every_module_has_a_docstring():
    assert [m.__name__ for m in MODULES if not (m.__doc__ or "").strip()] == []


def test_every_public_function_and_class_has_a_docstring():
    missing = [name for module in MODULES for name, obj, doc in _public(module)
               if not (doc or "").strip()]
    assert missing == []


def test_every_public_callable_documents_its_arguments():
    undocumented = [f"{name}({argument})" for module in MODULES
                    for name, obj, doc in _public(module) for argument in _arguments(obj)
                    if not re.search(rf"\b{re.escape(argument)}\b", doc or "")]
    assert undocumented == []


# --------------------------------------------------------------------------- README and docs


def _blocks(path: Path, languages: tuple[str, ...]) -> list[tuple[int, str]]:
    """``(first line number, text)`` of the fenced blocks in those languages."""
    found, lines = [], path.read_text(encoding="utf-8").splitlines()
    start, keep = None, False
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            if start is None:
                start, keep = number + 1, line[3:].strip() in languages
            else:
                if keep:
                    found.append((start, "\n".join(lines[start - 1 : number - 1])))
                start = None
    return found


def _commands(path: Path) -> list[tuple[str, list[str]]]:
    """Shell commands of a doc file, continuation lines joined, comments dropped."""
    commands = []
    for start, text in _blocks(path, ("bash", "sh", "console", "shell")):
        joined = re.sub(r"\\\n\s*", " ", text)
        for offset, line in enumerate(joined.splitlines()):
            line = line.strip().removeprefix("$ ")
            if not line or line.startswith("#"):
                continue
            words = shlex.split(line, comments=True)
            commands.append((f"{path.name}:{start + offset}", words))
    return commands


ALL_COMMANDS = [c for path in DOCS for c in _commands(path)]


def _strip_env(words: list[str]) -> list[str]:
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words = words[1:]
    return words


def test_the_docs_show_commands_at_all():
    assert DOCS[0].exists() and len(ALL_COMMANDS) >= 10


@pytest.mark.parametrize(("where", "words"), ALL_COMMANDS, ids=[w for w, _ in ALL_COMMANDS])
def test_every_documented_command_exists(where, words):
    words = _strip_env(words)
    program = Path(words[0]).name if words else ""
    if program == "alkit":
        try:
            cli.build_parser().parse_args(words[1:])
        except SystemExit as exit_:
            assert exit_.code == 0, f"{where}: `{shlex.join(words)}` does not parse"
    elif program == "make":
        targets = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        makefile = (ROOT / "Makefile").read_text()
        for target in targets:
            assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"{where}: {target}"
    elif any(w.startswith("benchmarks/") and w.endswith(".py") for w in words):
        script = next(w for w in words if w.startswith("benchmarks/"))
        args = words[words.index(script) + 1:]
        out = subprocess.run([sys.executable, str(ROOT / script), *args, "--help"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"{where}: {out.stderr[-500:]}"
        _check_script_flags(where, script, args)
    elif program.startswith("python") and "-c" in words:
        _check_python(where, words[words.index("-c") + 1])


def _check_script_flags(where: str, script: str, args: list[str]) -> None:
    spec = importlib.util.spec_from_file_location("doc_script", ROOT / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if hasattr(module, "parse_args"):
        try:
            module.parse_args(args)
        except SystemExit as exit_:
            raise AssertionError(f"{where}: {script} {shlex.join(args)} does not parse") \
                from exit_


def _python_blocks():
    return [(f"{path.name}:{start}", text) for path in DOCS
            for start, text in _blocks(path, ("python", "py"))]


@pytest.mark.parametrize(("where", "code"), _python_blocks(),
                         ids=[w for w, _ in _python_blocks()])
def test_every_documented_python_import_resolves(where, code):
    _check_python(where, code)


def _check_python(where: str, code: str) -> None:
    """Every ``from alkit... import name`` and ``alkit.<name>`` in ``code`` exists."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("alkit"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(
                    f"{node.module}.{alias.name}"), f"{where}: {node.module}.{alias.name}"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id == "alkit":
            assert hasattr(alkit, node.attr), f"{where}: alkit.{node.attr}"


def test_docs_link_to_files_that_exist():
    broken = []
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)\)", path.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.name}: {target}")
    assert broken == []


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) < 250
