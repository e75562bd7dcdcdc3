"""The alkit command line (the starter behind `make demo` is tested in test_starter.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alkit import cli

ALKIT = Path(sys.executable).parent / "alkit"


def _run(*args, timeout=300):
    return subprocess.run([str(ALKIT), *args], capture_output=True, text=True, timeout=timeout)


def test_console_script_is_installed():
    assert ALKIT.is_file(), "pip install -e . should install the alkit console script"
    out = _run("--version")
    assert out.returncode == 0 and out.stdout.startswith("alkit ")


def test_samples_command_builds_a_valid_dataset(tmp_path):
    out = _run("samples", "--preset", "tiny", "--out", str(tmp_path / "ds"), "--quiet")
    assert out.returncode == 0, out.stderr
    assert "built 'tiny' (seed 0)" in out.stdout and "pool      60 images" in out.stdout
    checked = _run("validate", str(tmp_path / "ds" / "dataset.yaml"))
    assert checked.returncode == 0 and "OK: 0 error(s), 0 warning(s)" in checked.stdout


def test_validate_json_output(tiny_dataset):
    out = _run("validate", str(tiny_dataset / "dataset.yaml"), "--json")
    report = json.loads(out.stdout)
    assert report["fatal"] is False and report["splits"]["pool"]["n_images"] == 60


def test_errors_are_one_line_on_stderr_with_exit_1(tmp_path, capsys):
    assert cli.main(["validate", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml: error[yaml]: dataset yaml not found" in capsys.readouterr().out
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    assert cli.main(["samples", "--preset", "tiny", "--out", str(tmp_path / "mine")]) == 1
    assert "alkit samples: error:" in capsys.readouterr().err


def test_monitor_needs_batches_or_a_report_and_a_finished_round(tiny_dataset, tmp_path, capsys):
    from alkit import Project

    Project.init(tmp_path / "p", tiny_dataset / "dataset.yaml").close()
    assert cli.main(["monitor", str(tmp_path / "p")]) == 1
    assert "give batches to monitor, --report, or both" in capsys.readouterr().err
    assert cli.main(["monitor", str(tmp_path / "p"), str(tiny_dataset / "images" / "val")]) == 1
    assert "no finished round: train a model first" in capsys.readouterr().err
    assert cli.main(["monitor", str(tmp_path / "p"), "--report"]) == 0
    assert "no batch monitored yet" in capsys.readouterr().out


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["samples", "--preset", "enormous"])
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_score_command_writes_scores_and_a_table(tiny_dataset, tmp_path):
    from alkit.data.scorefile import load_scores
    from alkit.model import yolo

    out = _run("score", str(yolo.pretrained_checkpoint()), str(tiny_dataset / "dataset.yaml"),
               "--imgsz", "64", "--conf-threshold", "0.01", "--cache-dir", str(tmp_path / "c"),
               "--out", str(tmp_path / "s.npz"), "--quiet")
    assert out.returncode == 0, out.stderr
    assert "scored 60 images (60 inferred, 0 from the cache)" in out.stdout
    assert len(load_scores(tmp_path / "s.npz")) == 60
    assert (tmp_path / "s.csv").read_text().startswith("path,hash,height,width,n_boxes")
    bad = _run("score", "yolo11n.pt", str(tiny_dataset / "images/pool"), "--quiet")
    assert bad.returncode == 1 and "alkit never downloads weights" in bad.stderr
    select = [*map(str, ("select", tmp_path / "s.npz", "--budget", "4", "--out",
                         tmp_path / "sel.csv"))]
    refused = _run(*select)  # the default strategy reads the model's class quality
    assert refused.returncode == 1 and "--checks DATASET_YAML --model WEIGHTS" in refused.stderr
    (tmp_path / "labeled.txt").write_text("".join(f"{p}\n" for p in sorted(
        (tiny_dataset / "images" / "pool").iterdir())[:2]))
    checked = _run(*select, "--checks", str(tiny_dataset / "dataset.yaml"), "--model",
                   str(yolo.pretrained_checkpoint()), "--labeled", str(tmp_path / "labeled.txt"))
    assert checked.returncode == 0, checked.stderr
    assert "calibrated: picked" in checked.stdout
    rows = (tmp_path / "sel.csv").read_text().splitlines()
    assert rows[0] == "rank,index,path,score,reason" and 1 <= len(rows) - 1 <= 4
    labeled = (tmp_path / "labeled.txt").read_text().split()
    assert not any(f",{p}," in r for r in rows for p in labeled)
    hybrid = _run(*select, "--strategy", "hybrid", "--measure", "margin")
    assert hybrid.returncode == 0 and "hybrid: picked 4 images" in hybrid.stdout
    removed = _run(*select, "--strategy", "two_stage")
    assert removed.returncode == 1 and "'two_stage' was removed: use calibrated" in removed.stderr
