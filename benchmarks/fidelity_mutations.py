"""Mutation check of the selection fidelity tests: each paper behaviour is reverted in a copy of
the package (never in the checkout) and its tests must then fail.

    .venv/bin/python benchmarks/fidelity_mutations.py

Prints one line per mutant ("caught" and the first failing test, or "NOT CAUGHT") and exits 1
when a mutant survives. About a minute on a 2-core CPU.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent

#: (what is reverted, file, text, replacement, the tests that must then fail)
MUTANTS = [
 ("typiclust: tiny clusters not held back", "alkit/core/clusters.py",
  "        large = open_ & (size > min_cluster_size)\n", "        large = open_\n",
  "tests/core/test_clusters.py"),
 ("typiclust: old order (large-before-small first)", "alkit/core/clusters.py",
  "np.lexsort((-size[candidates], covered[candidates]))",
  "np.lexsort((covered[candidates], -size[candidates]))",
  "tests/core/test_clusters.py"),
 ("ccms: unweighted mean", "alkit/core/ccms.py",
  "        np.add.at(total, oa[in_a], pa[in_a, None] * best)\n"
  "    weight = np.bincount(oa, weights=pa, minlength=n_a)",
  "        np.add.at(total, oa[in_a], best)\n"
  "    weight = np.bincount(oa, minlength=n_a).astype(float)",
  "tests/core/test_ccms.py"),
 ("k-medoids: no medoid updates", "alkit/core/clusters.py",
  "    for _ in range(n_iter):\n        assign", "    for _ in range(0):\n        assign",
  "tests/core/test_clusters.py"),
 ("ppal sum: confidence-weighted like expected", "alkit/core/uncertainty.py",
  '    if mode == "expected":\n        per_box = per_box * confidence[keep]',
  '    if True:\n        per_box = per_box * confidence[keep]',
  "tests/core/test_utility.py"),
 ("ppal spread: k-center instead of medoids", "alkit/core/strategy.py",
  'Shortlist(m_factor=4.0, spread="medoids")', 'Shortlist(m_factor=4.0, spread="kcenter")',
  "tests/core/test_ccms.py tests/core/test_strategy.py"),
]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        for part in ("alkit", "tests", "pyproject.toml"):
            copy = shutil.copytree if (REPO / part).is_dir() else shutil.copy
            copy(REPO / part, root / part)
        return check(root)


def check(root: pathlib.Path) -> int:
    """Run every mutant's tests in ``root`` (a copy of the package); 0 when all are caught."""
    results = []
    for name, path, old, new, tests in MUTANTS:
        f = root / path
        text = f.read_text()
        assert text.count(old) == 1, (name, text.count(old))
        f.write_text(text.replace(old, new))
        try:
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                 *tests.split()], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                capture_output=True, text=True)
        finally:
            f.write_text(text)
        failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
        results.append((name, run.returncode != 0))
        print(f"{name}: {'caught' if run.returncode else 'NOT CAUGHT'} {failed[:1]}", flush=True)
    return 0 if all(caught for _, caught in results) else 1


if __name__ == "__main__":
    sys.exit(main())
