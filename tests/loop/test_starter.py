"""The starter experiment: verdict rules, config, label sources, input errors, and one tiny
end-to-end run (cached and resumed) through the API and the command line."""

import json
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alkit import cli
from alkit.data import datasets
from alkit.data.scorefile import load_scores
from alkit.loop import simulate, starter, starter_report
from alkit.loop.starter import MissingLabelError
from alkit.loop.starter_report import ArmResult, verdict
from alkit.model.recipe import recipe

TINY = recipe("tiny", epochs=1)

# --------------------------------------------------------------------------- pure parts


def test_one_seed_gives_a_number_and_no_conclusion():
    text = verdict([0.61], [0.55], budget=200)
    assert "+0.060" in text and "single run" in text and "beat" not in text


def test_beat_only_when_every_seed_agrees_beyond_the_spread():
    text = verdict([0.60, 0.61, 0.62], [0.50, 0.52, 0.51], budget=200)
    assert text.startswith("bottom-200 beat random-200 in all 3 seeds")
    assert "0.100" in text and "spread (0.020)" in text
    text = verdict([0.50, 0.52, 0.51], [0.60, 0.61, 0.62], budget=50)
    assert text.startswith("random-50 beat bottom-50")


def test_same_sign_within_the_spread_is_not_conclusive():
    text = verdict([0.60, 0.66, 0.62], [0.58, 0.63, 0.61], budget=200)
    assert "within the seed-to-seed spread (0.060)" in text and "not conclusive" in text
    assert "beat" not in text


def test_mixed_signs_and_ties():
    assert verdict([0.60, 0.58], [0.59, 0.60], budget=10).startswith("No clear winner")
    assert "no difference" in verdict([0.5, 0.4], [0.5, 0.4], budget=10)


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=6))
def test_verdict_never_claims_more_than_the_numbers(pairs):
    bottom, rand = np.array(pairs).T
    text = verdict(bottom, rand, budget=200)
    if " beat " in text:
        diff = bottom - rand
        spread = max(np.ptp(bottom), np.ptp(rand))
        assert len(diff) > 1 and (np.all(diff > 0) or np.all(diff < 0))
        assert abs(diff.mean()) > spread


def test_verdict_rejects_unpaired_input():
    with pytest.raises(ValueError, match="equal-length"):
        verdict([0.5, 0.6], [0.5], budget=10)


def _arm(seed, map50, ap):
    return ArmResult("bottom", seed, 10, 30, map50, map50 / 2, ap, map50 - 0.4,
                     10 * (map50 - 0.4), 1.0, "w.pt")


def test_summarize_arm_over_seeds():
    summary = starter_report.summarize_arm([_arm(0, 0.5, {"a": 0.2, "b": 0.4}),
                                     _arm(1, 0.7, {"a": 0.6})])
    assert summary.n_seeds == 2 and summary.map50_mean == pytest.approx(0.6)
    assert (summary.map50_min, summary.map50_max) == (0.5, 0.7)
    assert summary.gain_per_100_mean == pytest.approx(2.0)
    assert summary.ap50_mean == pytest.approx({"a": 0.4, "b": 0.4})
    assert summary.ap50_max["a"] == 0.6


# --------------------------------------------------------------------------- input errors


def _own_yaml(dataset, path, **splits):
    spec = datasets.read_dataset_yaml(dataset / "dataset.yaml")
    chosen = {k: str(spec.splits[k]) for k in ("train", "val", "test")}
    chosen.update(splits)
    return datasets.write_dataset_yaml(path, spec.names,
                                       {k: v for k, v in chosen.items() if v is not None})


def test_bad_input_fails_before_any_training(tiny_dataset, tmp_path):
    pool = tiny_dataset / "images" / "pool"
    run = dict(out=tmp_path / "out", progress=False, echo=lambda *_: None)
    with pytest.raises(ValueError, match="K = 60 images per arm, but the pool"):
        starter.run_starter(tiny_dataset / "dataset.yaml", budget=60, **run)
    with pytest.raises(datasets.DatasetError, match="needs a 'test' split"):
        starter.run_starter(_own_yaml(tiny_dataset, tmp_path / "a.yaml", test=None), **run)
    with pytest.raises(datasets.DatasetError, match="no pool"):
        starter.run_starter(_own_yaml(tiny_dataset, tmp_path / "b.yaml"), budget=5, **run)
    with pytest.raises(datasets.DatasetError, match="image directory or list file not found"):
        starter.run_starter(tiny_dataset / "dataset.yaml", pool=tmp_path / "none", **run)
    with pytest.raises(datasets.DatasetError, match="no labels for the pool"):
        starter.run_starter(_own_yaml(tiny_dataset, tmp_path / "c.yaml"), pool=pool, budget=5,
                            **run)
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


@pytest.mark.slow
def test_weights_of_other_classes_need_fine_tuning(tiny_dataset, tmp_path):
    from alkit.model import yolo

    if yolo.pretrained_checkpoint() is None:
        pytest.skip("the optional pretrained start is not installed")
    with pytest.raises(ValueError, match="its classes are not the dataset's"):
        starter.run_starter(tiny_dataset / "dataset.yaml", weights=yolo.pretrained_checkpoint(),
                            recipe=recipe("tiny", seed_epochs=0), budget=5, out=tmp_path,
                            progress=False, echo=lambda *_: None)


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny starter run: 2 seeds, K = 10 of the 60-image pool, 1 epoch at 64 px."""
    workdir = tmp_path_factory.mktemp("starter")
    lines = []
    report = starter.run_starter(sample_preset="tiny", recipe=TINY, workdir=workdir, budget=10,
                                 n_seeds=2, control=False, progress=False, echo=lines.append)
    return report, "\n".join(lines), workdir


@pytest.mark.slow
def test_tiny_run_reports_both_arms_side_by_side(tiny_run):
    report, text, workdir = tiny_run
    out = workdir / "starter-tiny"
    assert report.seeds == [0, 1] and len(report.arms) == 4 and report.n_pool == 60
    assert {(a.arm, a.seed) for a in report.arms} == {
        ("bottom", 0), ("random", 0), ("bottom", 1), ("random", 1)}
    assert all(0.0 <= a.map50 <= 1.0 and a.n_new_labels == 10 for a in report.arms)
    assert report.picks["random-s0"] != report.picks["random-s1"]
    assert report.overlap == [len(set(report.picks["bottom"]) & set(report.picks[f"random-s{s}"]))
                              for s in (0, 1)]
    for line in ("alkit starter: bottom-10 vs random-10", "seed model", "bottom-10",
                 "random-10", "difference", "test AP50", "verdict:", "5/5 4 arms"):
        assert line in text
    saved = json.loads((out / starter_report.REPORT_FILE).read_text())
    assert saved["verdict"] == report.verdict and len(saved["differences"]) == 2
    assert set(saved["summary"]) == {"bottom", "random"}
    assert (out / starter_report.PLOT_FILE).stat().st_size > 10_000


@pytest.mark.slow
def test_the_arms_are_rounds_of_projects_sharing_one_seed_model(tiny_run):
    report, _, workdir = tiny_run
    (experiment,) = (workdir / "starter-tiny").glob("experiment-*")
    cells = simulate.load_cells(experiment)
    assert {c["rounds"][0]["map50"] for c in cells} == {report.seed_test["map50"]}
    assert sorted(p.name for p in (experiment / "work").iterdir()) == [
        "bottom-10-s0", "bottom-10-s1", "random-10-s0", "random-10-s1", "scores", "seed-shared"]
    # one ranking: the seeds differ only in how ties are broken (at random, not pool order)
    assert report.picks["bottom"] == starter._picks(experiment, "bottom-10", 0)
    weakest = load_scores(report.scores_path).table.set_index("path")["least_confidence_max"]
    assert sorted(weakest[report.picks["bottom"]]) == pytest.approx(
        sorted(weakest[starter._picks(experiment, "bottom-10", 1)]))


@pytest.mark.slow
def test_bottom_arm_is_the_least_confident_images(tiny_run):
    report, _, _ = tiny_run
    scores = load_scores(report.scores_path)
    weakest = scores.table.set_index("path")["least_confidence_max"]
    picked = weakest[report.picks["bottom"]]
    assert picked.min() >= weakest.drop(report.picks["bottom"]).max()
    assert np.allclose(picked.to_numpy(), report.bottom_scores)
    empty = scores.table.set_index("path")["n_boxes"][report.picks["bottom"]] == 0
    assert report.n_empty_picks == int(empty.sum())
    assert all(picked[empty] == 1.0)  # an image without boxes counts as least confident


@pytest.mark.slow
def test_a_rerun_resumes_from_the_cache(tiny_run):
    report, _, workdir = tiny_run
    (experiment,) = (workdir / "starter-tiny").glob("experiment-*")
    simulate.reset_cell(experiment, "random-10", 1)  # as if killed before that arm finished
    lines = []
    again = starter.run_starter(sample_preset="tiny", recipe=TINY, workdir=workdir, budget=10,
                                n_seeds=2, control=False, progress=False, echo=lines.append)
    assert [a.cached for a in again.arms] == [True, True, True, False]
    assert [a.map50 for a in again.arms[:3]] == [a.map50 for a in report.arms[:3]]
    assert "cached; seed model" in "\n".join(lines)


@pytest.mark.slow
def test_command_line_and_demo_alias(tiny_run, capsys):
    _, _, workdir = tiny_run
    args = ["--samples", "tiny", "--workdir", str(workdir), "--budget", "10", "--seeds", "2",
            "--recipe", "tiny", "--epochs", "1", "--no-control", "--quiet"]
    assert cli.main(["starter", *args]) == 0
    out = capsys.readouterr().out
    assert "bottom-10 vs random-10" in out and "(4 arms from the cache)" in out
    assert cli.build_parser().parse_args(["demo"]).func is cli._starter
    assert cli.build_parser().parse_args(["starter", "--no-control"]).control is False
    assert cli.build_parser().parse_args(["starter", "--preset", "tiny"]).samples == "tiny"
    assert cli.main(["demo", *args[:4], "--budget", "60"]) == 1
    assert "alkit demo: error: K = 60 images per arm" in capsys.readouterr().err


@pytest.mark.slow
def test_own_data_with_real_label_files(tiny_run, tiny_dataset, tmp_path):
    report, _, _ = tiny_run
    data = _own_yaml(tiny_dataset, tmp_path / "mine.yaml")
    pool = tiny_dataset / "images" / "pool"
    labels = tmp_path / "labels"
    shutil.copytree(tiny_dataset / "oracle" / "labels" / "pool", labels)
    for path in labels.glob("*.txt"):
        path.unlink()
    run = dict(pool=pool, weights=report.seed_weights, labels=labels, out=tmp_path / "out",
               recipe=TINY, budget=5, n_seeds=1, control=True, progress=False)
    lines = []
    with pytest.raises(MissingLabelError, match="picked pool images have no label file"):
        starter.run_starter(data, echo=lines.append, **run)
    waiting = (tmp_path / "out" / "to_label.txt").read_text().split()
    assert 5 <= len(waiting) <= 10 and all(p.startswith(str(pool)) for p in waiting)
    shutil.rmtree(labels)
    shutil.copytree(tiny_dataset / "oracle" / "labels" / "pool", labels)
    mine = starter.run_starter(data, echo=lines.append, **run)
    assert "used as is" in "\n".join(lines) and mine.config["recipe"]["seed_epochs"] == 0
    assert mine.seed_test["map50"] == pytest.approx(report.seed_test["map50"])
    assert mine.condition_mix is None and [a.arm for a in mine.arms] == [
        "bottom", "random", "control"]
    control = mine.arms[2]
    assert control.n_new_labels == 0 and control.gain_per_100 is None
    assert "seed only (the same retraining without new labels)" in "\n".join(lines)
    assert not (tmp_path / "out" / "to_label.txt").exists()


@pytest.mark.slow
def test_a_budget_in_annotation_seconds_buys_the_same_cost_per_arm(tiny_run, capsys):
    """K = a third of the pool's annotation seconds per arm: each arm's picks are priced at
    4 s + 25.5 s per expected box (the seed model's candidates) and fit the budget; the report
    names the unit and counts the images each arm bought."""
    report, _, workdir = tiny_run
    pool = load_scores(report.scores_path)  # the same seed recipe, data and seed
    k = round(float((4 + 25.5 * pool.expected_boxes).sum()) / 3)
    args = ["--samples", "tiny", "--workdir", str(workdir), "--budget", str(k), "--seeds", "1",
            "--budget-unit", "cost", "--recipe", "tiny", "--epochs", "1", "--no-control",
            "--quiet"]
    assert cli.main(["starter", *args]) == 0
    out = capsys.readouterr().out
    assert f"alkit starter: bottom-{k}s vs random-{k}s" in out
    assert f"K = {starter_report.budget_words(k, 'cost')} per arm" in out
    report = json.loads((workdir / "starter-tiny" / starter_report.REPORT_FILE).read_text())
    assert report["budget_unit"] == "cost" and report["config"]["seconds_per_box"] == 25.5
    scores = load_scores(report["scores_path"]).table.set_index("path")
    for picks in (report["picks"]["bottom"], report["picks"]["random-s0"]):
        assert 0 < (4 + 25.5 * scores["expected_boxes"][picks]).sum() <= k
    with pytest.raises(ValueError, match=r"K = 27.8 h .* the whole pool .* is worth about"):
        starter.run_starter(sample_preset="tiny", recipe=TINY, workdir=workdir,
                            budget=100_000, budget_unit="cost", n_seeds=1, control=False,
                            progress=False, echo=lambda *_: None)
