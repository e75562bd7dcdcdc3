"""The starter experiment: verdict rules, config, the report of three arms, label sources,
input errors, and one tiny end-to-end run (cached and resumed) through the API and the command
line."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alkit import cli
from alkit.core.query import Query
from alkit.core.strategy import DEFAULT
from alkit.data import datasets
from alkit.data.scorefile import load_scores
from alkit.loop import simulate, starter, starter_report
from alkit.loop.project import Project
from alkit.loop.starter import MissingLabelError
from alkit.loop.starter_report import ArmResult, StarterReport, default_picks, verdict
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


def test_default_against_random_names_no_winner_when_the_seeds_disagree():
    text = verdict([0.66, 0.60, 0.63], [0.62, 0.64, 0.61], budget=200, name="calibrated",
                   picks=default_picks("calibrated"))
    assert text.startswith("No clear winner: the difference (calibrated - random) changes sign "
                           "across the 3 seeds (+0.040, -0.040, +0.020")
    assert ("choosing the images alkit's default strategy (calibrated) picks made no "
            "difference") in text
    assert " beat " not in text and "ahead" not in text and "bottom" not in text
    won = verdict([0.70, 0.71, 0.72], [0.60, 0.61, 0.62], budget=200, name="calibrated",
                  picks=default_picks("calibrated"))
    assert won.startswith("calibrated-200 beat random-200 in all 3 seeds")
    assert "labeling the images alkit's default strategy (calibrated) picks paid off" in won


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
    assert summary.map50_sd == pytest.approx(0.1 * np.sqrt(2))  # the sample sd (ddof=1)
    assert summary.gain_per_100_mean == pytest.approx(2.0)
    assert summary.ap50_mean == pytest.approx({"a": 0.4, "b": 0.4})
    assert summary.ap50_max["a"] == 0.6
    assert (summary.n_new_images_mean, summary.n_new_objects_mean) == (10, 30)
    assert starter_report.summarize_arm([_arm(0, 0.5, {})]).map50_sd is None  # one seed


#: test mAP50 per arm and seed (0, 1, 2) of the report below: bottom behind random in every
#: seed beyond the spread, the default arm ahead in two seeds and behind in one.
MAP50 = {"bottom": [0.50, 0.51, 0.52], "random": [0.60, 0.61, 0.62],
         "default": [0.63, 0.59, 0.64], "control": [0.45, 0.46, 0.44]}
BOXES = {"bottom": 400, "random": 500, "default": 600, "control": 0}


def _three_arm_report() -> StarterReport:
    arms = [ArmResult(arm, seed, 0 if arm == "control" else 200, BOXES[arm] + 3 * seed, m,
                      m / 2, {"zero": m}, m - 0.4, None if arm == "control" else (m - 0.4) / 2,
                      1.0, "w.pt")
            for seed in (0, 1, 2) for arm, m in ((a, MAP50[a][seed]) for a in MAP50)]
    report = StarterReport(
        "d.yaml", "pool", 2000, 0, 200, [0, 1, 2],
        {"recipe": {"epochs": 5, "imgsz": 128}, "conf_threshold": 0.25}, "a start",
        "seed.pt", 300, {"map50": 0.4, "map50_95": 0.2, "ap50_per_class": {"zero": 0.4}}, 10,
        [20, 22, 24], {"bottom": []}, [], arms, default_strategy="calibrated",
        overlap_default=[[30, 10], [32, 12], [34, 14]])
    report.verdict = verdict(MAP50["bottom"], MAP50["random"], budget=report.k)
    report.default_verdict = verdict(MAP50["default"], MAP50["random"], budget=report.k,
                                     name="calibrated", picks=default_picks("calibrated"))
    return report


def test_the_report_shows_three_arms_with_their_sample_sd_and_what_they_bought(tmp_path):
    report = _three_arm_report()
    summary = report.summary()
    assert list(summary) == ["bottom", "random", "default", "control"]
    for arm, values in MAP50.items():
        assert summary[arm].map50_sd == pytest.approx(np.std(values, ddof=1))
    bought = report.bought()
    assert bought["default"]["images"] == 200 and bought["default"]["boxes"] == 603
    assert bought["default"]["hours"] == pytest.approx((4 * 200 + 25.5 * 603) / 3600)
    assert report.differences("default") == pytest.approx([0.03, -0.02, 0.02])
    text = report.format()
    assert "bottom-200 vs random-200 vs calibrated-200 (alkit's default)" in text
    assert "mean ± sample sd" in text
    for arm in ("bottom", "random", "default"):
        s, b = summary[arm], bought[arm]
        row = next(line for line in text.splitlines()
                   if line.startswith(f"  {report.label(arm)} "))
        assert f"{s.map50_mean:.3f} ± {s.map50_sd:.3f}" in row
        assert row.split()[-3:] == [f"{b['images']:.0f}", f"{b['boxes']:.0f}",
                                    f"{b['hours']:.1f}"]
    flat = " ".join(text.split())
    assert "calibrated shares 32 with bottom and 12 with random" in flat
    # the seed's question gets its answer, alkit's answer names no winner
    assert "verdict, the seed's question (bottom-200 vs random-200): random-200 beat" in flat
    assert ("alkit's answer (calibrated-200, its default strategy, vs random-200): No clear "
            "winner") in flat
    saved = report.to_dict()
    assert set(saved["summary"]) == set(saved["bought"]) == set(MAP50)
    assert saved["default_differences"] == pytest.approx([0.03, -0.02, 0.02])
    assert saved["default_strategy"] == "calibrated" and saved["default_verdict"]
    figure = report.plot()
    ticks = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert ticks[2].startswith("calibrated-200\n0.620 ± 0.026\n200 images\n603 boxes")
    figure.savefig(tmp_path / "starter.png")


def test_the_default_arm_differs_from_bottom_in_its_strategy_only():
    bottom = Query("least_confidence", 50, budget_unit="boxes", conf_threshold=0.3)
    exp = starter._experiment(SimpleNamespace(yaml_path="d.yaml"), None, TINY, bottom,
                              True, 7)
    assert list(exp.queries) == ["bottom-50box", "random-50box", f"{DEFAULT}-50box", "control"]
    default = exp.queries[f"{DEFAULT}-50box"]
    assert default.strategy.name == DEFAULT
    assert {k: v for k, v in default.to_dict().items() if not k.startswith("strategy")} == {
        k: v for k, v in bottom.to_dict().items() if not k.startswith("strategy")}
    assert exp.queries["control"].budget == 0 and exp.shared_seed_model == 7


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
    with pytest.raises(ValueError, match=r"jobs .* must be >= 1, got 0"):
        starter.run_starter(tiny_dataset / "dataset.yaml", budget=5, jobs=0, **run)
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
def test_tiny_run_reports_the_three_arms_side_by_side(tiny_run):
    report, text, workdir = tiny_run
    out = workdir / "starter-tiny"
    assert report.seeds == [0, 1] and len(report.arms) == 6 and report.n_pool == 60
    assert [(a.arm, a.seed) for a in report.arms] == [
        ("bottom", 0), ("random", 0), ("default", 0), ("bottom", 1), ("random", 1),
        ("default", 1)]
    assert all(0.0 <= a.map50 <= 1.0 and a.n_new_labels == 10 for a in report.arms)
    assert report.default_strategy == DEFAULT
    assert report.config["strategies"] == {"bottom": "least_confidence", "random": "random",
                                           "default": DEFAULT}
    assert report.picks["random-s0"] != report.picks["random-s1"]
    assert report.overlap == [len(set(report.picks["bottom"]) & set(report.picks[f"random-s{s}"]))
                              for s in (0, 1)]
    assert report.overlap_default == [
        [len(set(report.picks[f"default-s{s}"]) & set(report.picks[other]))
         for other in ("bottom", f"random-s{s}")] for s in (0, 1)]
    flat = " ".join(text.split())
    for line in (f"alkit starter: bottom-10 vs random-10 vs {DEFAULT}-10 (alkit's default)",
                 "seed model", "bottom - random", f"{DEFAULT} - random", "mean ± sample sd",
                 "labels bought (mean)", "test AP50", "verdict, the seed's question",
                 f"alkit's answer ({DEFAULT}-10, its default strategy, vs random-10):",
                 "5/5 6 arms"):
        assert line in flat
    saved = json.loads((out / starter_report.REPORT_FILE).read_text())
    assert saved["verdict"] == report.verdict and len(saved["differences"]) == 2
    assert saved["default_verdict"] == report.default_verdict != ""
    assert saved["default_differences"] == pytest.approx(report.differences("default"))
    assert set(saved["summary"]) == set(saved["bought"]) == {"bottom", "random", "default"}
    assert saved["summary"]["default"]["map50_sd"] == pytest.approx(
        np.std([a.map50 for a in report.arms if a.arm == "default"], ddof=1))
    assert (out / starter_report.PLOT_FILE).stat().st_size > 10_000


@pytest.mark.slow
def test_the_arms_are_rounds_of_projects_sharing_one_seed_model(tiny_run):
    report, _, workdir = tiny_run
    (experiment,) = (workdir / "starter-tiny").glob("experiment-*")
    cells = simulate.load_cells(experiment)
    assert {c["rounds"][0]["map50"] for c in cells} == {report.seed_test["map50"]}
    assert sorted(p.name for p in (experiment / "work").iterdir()) == sorted([
        "bottom-10-s0", "bottom-10-s1", "random-10-s0", "random-10-s1", f"{DEFAULT}-10-s0",
        f"{DEFAULT}-10-s1", "scores", "seed-shared"])
    # every arm's round 1: its strategy, the same K, trained from the one seed model with the
    # training seed of its seed
    with Project(experiment / "work" / "seed-shared") as project:
        seed_hash = project.ledger.rounds()[0].model_after_hash
    queries = simulate.load_config(experiment)["queries"]
    strategies = {"bottom": "least_confidence", "random": "random", DEFAULT: DEFAULT}
    for seed in (0, 1):
        training_seeds = set()
        for name, strategy in strategies.items():
            assert queries[f"{name}-10"]["strategy"] == strategy
            assert queries[f"{name}-10"]["budget"] == 10
            with Project(experiment / "work" / f"{name}-10-s{seed}") as project:
                first = project.ledger.rounds()[1]
                assert first.strategy == strategy and first.model_before_hash == seed_hash
                assert first.n_labeled_after == 24 + 10  # the tiny seed split + K
            (args,) = (experiment / "work" / f"{name}-10-s{seed}").rglob("args.yaml")
            training_seeds |= {line for line in args.read_text().splitlines()
                               if line.startswith("seed:")}
        assert len(training_seeds) == 1
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
    assert [a.cached for a in again.arms] == [True, True, True, True, False, True]
    assert [a.map50 for i, a in enumerate(again.arms) if i != 4] == [
        a.map50 for i, a in enumerate(report.arms) if i != 4]
    assert "cached; seed model" in "\n".join(lines)


@pytest.mark.slow
def test_arms_train_two_at_once_in_worker_processes(tiny_run):
    report, _, workdir = tiny_run
    (experiment,) = (workdir / "starter-tiny").glob("experiment-*")
    for name, seed in ((f"{DEFAULT}-10", 0), ("random-10", 1)):
        simulate.reset_cell(experiment, name, seed)
    lines = []
    again = starter.run_starter(sample_preset="tiny", recipe=TINY, workdir=workdir,
                                budget=10, n_seeds=2, progress=False, jobs=2,
                                echo=lines.append)
    assert "6 arms: pick, label, retrain from the seed model (1 epochs at 64 px each, 2 at once)" \
        in "\n".join(lines)
    assert [a.cached for a in again.arms] == [True, True, False, True, False, True]
    assert [(a.arm, a.seed) for a in again.arms] == [(a.arm, a.seed) for a in report.arms]
    for i in (2, 4):  # retrained in a worker: a whole round, K new labels, its own picks
        assert again.arms[i].n_new_labels == 10 and 0.0 <= again.arms[i].map50 <= 1.0
        assert Path(again.arms[i].weights).is_file()
    assert again.picks["default-s0"] == report.picks["default-s0"]  # the same picks
    assert again.picks["random-s1"] == report.picks["random-s1"]
    assert [a.map50 for i, a in enumerate(again.arms) if i not in (2, 4)] == [
        a.map50 for i, a in enumerate(report.arms) if i not in (2, 4)]


def test_only_an_annotator_that_can_be_pickled_goes_to_the_worker_processes():
    assert starter._picklable(SimpleNamespace(path="labels"))
    assert not starter._picklable(SimpleNamespace(client=lambda: None))


@pytest.mark.slow
def test_command_line_and_demo_alias(tiny_run, capsys):
    _, _, workdir = tiny_run
    args = ["--samples", "tiny", "--workdir", str(workdir), "--budget", "10", "--seeds", "2",
            "--recipe", "tiny", "--epochs", "1", "--no-control", "--quiet"]
    assert cli.main(["starter", *args]) == 0
    out = capsys.readouterr().out
    assert "bottom-10 vs random-10" in out and "(6 arms from the cache)" in out
    assert cli.build_parser().parse_args(["demo"]).func is cli._starter
    assert cli.build_parser().parse_args(["starter", "--no-control"]).control is False
    defaults = cli.build_parser().parse_args(["starter"])
    assert (defaults.control, defaults.jobs) == (False, 2)  # make demo: 3 arms, 2 at once
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
    # the picks of the three arms (5 each), shared ones listed once
    assert 5 <= len(waiting) <= 15 and all(p.startswith(str(pool)) for p in waiting)
    shutil.rmtree(labels)
    shutil.copytree(tiny_dataset / "oracle" / "labels" / "pool", labels)
    mine = starter.run_starter(data, echo=lines.append, **run)
    assert "used as is" in "\n".join(lines) and mine.config["recipe"]["seed_epochs"] == 0
    assert mine.seed_test["map50"] == pytest.approx(report.seed_test["map50"])
    assert mine.condition_mix is None and [a.arm for a in mine.arms] == [
        "bottom", "random", "default", "control"]
    control = mine.arms[3]
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
    for picks in (report["picks"]["bottom"], report["picks"]["random-s0"],
                  report["picks"]["default-s0"]):
        assert 0 < (4 + 25.5 * scores["expected_boxes"][picks]).sum() <= k
    with pytest.raises(ValueError, match=r"K = 27.8 h .* the whole pool .* is worth about"):
        starter.run_starter(sample_preset="tiny", recipe=TINY, workdir=workdir,
                            budget=100_000, budget_unit="cost", n_seeds=1, control=False,
                            progress=False, echo=lambda *_: None)
