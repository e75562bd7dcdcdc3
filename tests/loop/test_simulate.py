"""The active-learning benchmark harness: the report's numbers, and a quick real configuration
(tiny samples and recipe, 1 round, 1 seed) that trains, resumes and reports."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alkit.loop import simulate
from alkit.model.recipe import recipe

TINY = recipe("tiny", epochs=1)

ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------- summarize


def _cell(strategy, seed, maps, rares, step=100, seed_images=100):
    return {"strategy": strategy, "seed": seed, "rounds": [
        {"round": i, "labeled_images": seed_images + i * step,
         "labeled_boxes": (seed_images + i * step) * 3, "map50": m, "map50_95": m / 2,
         "ap50_per_class": {"a": m, "rare": r}, "seconds": 10.0, "train_seconds": 9.0,
         "resumed": False}
        for i, (m, r) in enumerate(zip(maps, rares, strict=True))]}


def test_summarize_against_random():
    cells = [_cell("random", 0, [0.2, 0.3, 0.4], [0.1, 0.1, 0.2]),
             _cell("random", 1, [0.2, 0.3, 0.4], [0.1, 0.1, 0.2]),
             _cell("least_confidence", 0, [0.2, 0.4, 0.5], [0.1, 0.3, 0.4]),
             _cell("least_confidence", 1, [0.2, 0.4, 0.5], [0.1, 0.3, 0.2])]
    summary = simulate.summarize(cells, ["rare"])
    best = summary["strategies"]["least_confidence"]
    assert summary["random_final_map50"] == pytest.approx(0.4)
    assert summary["random_final_images"] == 300
    assert best["labels_to_reach_random"] == pytest.approx(200.0)
    assert best["saving"] == pytest.approx(1 - 200 / 300)
    assert best["saving_after_seed"] == pytest.approx(0.5)
    assert best["boxes_to_reach_random"] == pytest.approx(600) and best["box_saving"] == (
        pytest.approx(1 / 3))  # 3 boxes per image in both
    assert best["saving_per_seed"] == {0: pytest.approx(1 / 3), 1: pytest.approx(1 / 3)}
    # the sample standard deviation (ddof 1): 0.4 and 0.2 -> 0.1414, not the population's 0.1
    assert best["final_rare_ap50"] == (pytest.approx(0.3), pytest.approx(0.02 ** 0.5))
    assert best["rare_ratio_vs_random"] == pytest.approx(1.5)
    assert best["first_gain_per_100"][0] == pytest.approx(0.2)
    assert summary["strategies"]["random"]["saving"] == pytest.approx(0.0)
    table = simulate.format_summary(summary)
    assert "| least_confidence | 2 | 0.500 ± 0.000" in table and "33%" in table
    at_round_1 = best["per_round"][1]
    assert at_round_1["images"] == 200 and at_round_1["rare_ratio_vs_random"] == pytest.approx(3)
    assert "| 1 | 200 | 0.300 / 0.10 (1.00x) | 0.400 / 0.30 (3.00x) |" in table


def test_summarize_keeps_only_rounds_every_seed_finished_and_needs_random():
    cells = [_cell("random", 0, [0.2, 0.3, 0.4], [0, 0, 0]),
             _cell("random", 1, [0.2, 0.3], [0, 0])]
    assert simulate.curves(cells, ["rare"])["random"]["map50"].shape == (2, 2)
    with pytest.raises(ValueError, match="random"):
        simulate.summarize([_cell("margin", 0, [0.1, 0.2], [0, 0])], [])


def test_a_strategy_that_never_reaches_random_says_so():
    cells = [_cell("random", 0, [0.2, 0.5], [0.1, 0.1]),
             _cell("coreset", 0, [0.2, 0.3], [0.1, 0.1])]
    row = simulate.summarize(cells, ["rare"])["strategies"]["coreset"]
    assert row["labels_to_reach_random"] is None and row["saving"] is None
    assert "not reached" in simulate.format_summary(simulate.summarize(cells, ["rare"]))


def _extended(cell, maps, rares, step=200):
    """``cell`` with extension rounds of ``step`` images after its last round."""
    last = cell["rounds"][-1]
    for i, (m, r) in enumerate(zip(maps, rares, strict=True), start=1):
        images = last["labeled_images"] + i * step
        cell["rounds"].append({"round": last["round"] + i, "labeled_images": images,
                               "labeled_boxes": images * 3, "map50": m, "map50_95": m / 2,
                               "ap50_per_class": {"a": m, "rare": r}, "seconds": 10.0,
                               "train_seconds": 9.0, "resumed": False, "extension": True})
    return cell


def test_random_to_match_the_strategys_final_is_read_on_randoms_extension():
    """The seed's measure: random (100 + 100/round, extended by 200 images a round) needs 400
    images to match the strategy's final 0.5 that it bought with 300: a share of 75% (per
    seed: 300/400 and 300/500); the extension never counts as random's horizon."""
    cells = [_extended(_cell("random", 0, [0.2, 0.3, 0.4], [0.1, 0.1, 0.2]), [0.6], [0.2]),
             _extended(_cell("random", 1, [0.2, 0.3, 0.4], [0.1, 0.1, 0.2]), [0.45, 0.5],
                       [0.2, 0.2]),
             _cell("calibrated", 0, [0.2, 0.4, 0.5], [0.1, 0.3, 0.2]),
             _cell("calibrated", 1, [0.2, 0.4, 0.5], [0.1, 0.3, 0.2])]
    summary = simulate.summarize(cells, ["rare"])
    assert summary["random_final_images"] == 300 and summary["random_final_map50"] == 0.4
    paired = summary["strategies"]["calibrated"]["paired"]
    match = paired["random_to_match"]["images"]
    # seed 0: 0.4 at 300, 0.6 at 500 -> 0.5 at 400; seed 1: 0.45 at 500, 0.5 at 700
    assert match["per_seed"] == {0: pytest.approx(300 / 400), 1: pytest.approx(300 / 700)}
    assert match["mean_sd"][0] == pytest.approx((0.75 + 3 / 7) / 2)
    assert match["mean_sd"][1] == pytest.approx(abs(0.75 - 3 / 7) / 2 ** 0.5)
    assert paired["random_to_match"]["boxes"]["per_seed"][0] == pytest.approx(0.75)
    # rare AP50 0.2 at the end: random has it at its horizon already (the first crossing)
    assert paired["random_to_match_rare"]["images"]["per_seed"] == {0: 1.0, 1: 1.0}
    assert paired["to_reach_random"]["images"]["per_seed"] == {0: pytest.approx(1 / 3),
                                                               1: pytest.approx(1 / 3)}
    table = simulate.format_summary(summary)
    assert "| calibrated | 33% ± 0% | 33% ± 0% | 33% ± 0% | 59% ± 23% |" in table
    assert "sample standard deviation" in table


def test_a_random_extension_that_stops_short_says_by_how_many_labels():
    cells = [_extended(_cell("random", 0, [0.2, 0.3, 0.4], [0, 0, 0]), [0.42, 0.44], [0, 0]),
             _cell("ppal", 0, [0.2, 0.4, 0.5], [0, 0, 0])]
    stat = simulate.summarize(cells, [])["strategies"]["ppal"]["paired"]["random_to_match"]
    assert stat["images"]["per_seed"] == {0: None} and stat["images"]["mean_sd"] is None
    assert stat["images"]["not_reached"] == {0: 700.0}
    assert "not reached by 700 (seed 0)" in simulate.format_summary(
        simulate.summarize(cells, []))


def test_missing_seeds_and_unfinished_cells_are_said_in_words():
    cells = [_cell("random", 0, [0.2, 0.3, 0.4], [0, 0, 0]),
             _cell("random", 1, [0.2, 0.3, 0.4], [0, 0, 0]),
             _cell("ppal", 0, [0.2, 0.4, 0.5], [0, 0, 0]),
             _cell("typiclust", 0, [0.2, 0.4], [0, 0]),
             _cell("typiclust", 1, [0.2, 0.4], [0, 0])]
    summary = simulate.summarize(cells, [])
    notes = " ".join(summary["notes"])
    assert "ppal: seed(s) 1 missing" in notes
    assert "typiclust: 1 of 2 rounds finished by every seed" in notes
    assert summary["strategies"]["ppal"]["final_map50"] == (0.5, None)  # one seed: no spread
    table = simulate.format_summary(summary)
    assert "Read first:" in table and "0.500 ± n/a" in table


def test_the_horizon_is_where_the_best_strategy_stops_gaining_or_the_label_cap():
    cells = [_cell("random", 0, [0.2, 0.3, 0.35, 0.36], [0] * 4),
             _cell("ppal", 0, [0.2, 0.4, 0.5, 0.503], [0] * 4),
             _cell("typiclust", 0, [0.2, 0.45], [0] * 2)]  # not at round 2 yet: left out
    assert simulate.horizon_reached(cells, 2, min_gain=0.005, max_labels=1e9) is None
    why = simulate.horizon_reached(cells, 3, min_gain=0.005, max_labels=1e9)
    assert "ppal, gained +0.0030 mAP50 in round 3" in why
    assert "the cap: 300" in simulate.horizon_reached(cells, 2, min_gain=0.005,
                                                       max_labels=300)
    assert simulate.horizon_reached(cells, 4, min_gain=0.005, max_labels=1e9) is None


@pytest.mark.parametrize("config,fixed,words", [
    ({}, False, "before the loop was consolidated"),
    ({"recipe": {"epochs": 15, "warm_start": True}}, False, "warm start"),
    ({"recipe": {"epochs": 15, "warm_start": False}}, True, "not been extended"),
])
def test_the_report_names_its_protocol(config, fixed, words):
    cells = [_cell("random", 0, [0.2, 0.3], [0, 0])]
    protocol = simulate.summarize(cells, [], config=config)["protocol"]
    assert protocol["fixed_start"] is fixed and words in protocol["text"]


def test_extension_refuses_warm_start_and_a_grid_grown_over_an_extension(tmp_path,
                                                                        tiny_dataset):
    yaml = str(tiny_dataset / "dataset.yaml")
    with pytest.raises(ValueError, match="warm_start=False"):
        simulate.extend_random(tmp_path, simulate.experiment(yaml, ["random"], recipe=TINY), 0)
    exp = simulate.experiment(yaml, ["random"], rounds=3,
                              recipe=recipe("tiny", epochs=1, warm_start=False))
    cell = _extended(_cell("random", 0, [0.2, 0.3], [0, 0]), [0.4], [0])
    (tmp_path / "cells").mkdir()
    simulate.cell_path(tmp_path, "random", 0).write_text(json.dumps(cell))
    with pytest.raises(ValueError, match="random was extended from round 2"):
        simulate.run_cell(tmp_path, exp, "random", 0)


def test_pick_composition_counts_rare_boxes_hard_scenes_and_repeated_groups():
    seen = set()
    # (boxes, rare boxes, scene kind, near-duplicate group)
    first = simulate._composition([(3, 1, "easy", 4), (1, 0, "small", -1), (2, 0, "easy", 4),
                                   (0, 0, "clutter", -1)], seen)
    assert first["objects"] == 1.5 and first["rare_per_100"] == 25
    assert first["hard"] == 0.5 and first["redundant"] == 0.25  # group 4 picked twice
    assert first["scene:easy"] == 0.5 and first["scene:crowded"] == 0
    second = simulate._composition([(1, 1, "easy", 4), (1, 1, "easy", 5)], seen)
    assert second["redundant"] == 0.5 and seen == {4, 5}  # group 4 was picked a round before
    assert simulate._mean_rows([[first, second], [second]]) == [
        {k: pytest.approx((first[k] + second[k]) / 2) for k in first}]
    plain = simulate._composition([(2, 0, None, -1)], None)  # a dataset without metadata
    assert plain["hard"] is None and plain["redundant"] is None and "scene:easy" not in plain
    table = simulate.format_composition({"random": [first, second], "pool": [plain]})
    assert ("| random | 2 | 1.33 (1.50) | 50.0 (25.0) | 37.5% (16.7%) | 33% (50%) | 33% (25%) |"
            in table)
    assert "| the whole pool | - | 2.00 | 0.0 | 0.0% | - | - |" in table
    assert "Scene kinds" in table


def test_unknown_strategies_and_recipe_changes_are_refused(tmp_path, tiny_dataset):
    yaml = str(tiny_dataset / "dataset.yaml")
    with pytest.raises(ValueError, match="unknown strategy 'magic'"):
        simulate.experiment(yaml, ["random", "magic"])
    exp = simulate.experiment(yaml, ["random"], recipe=TINY)
    with pytest.raises(ValueError, match="unknown cell 'coreset'"):
        simulate.run_grid(tmp_path, exp, ["coreset"])
    simulate.check_config(tmp_path, exp)
    with pytest.raises(ValueError, match="recipe"):
        simulate.check_config(tmp_path, simulate.experiment(yaml, ["random"],
                                                             recipe=recipe("tiny")))
    with pytest.raises(ValueError, match=r"queries\.random"):
        simulate.check_config(tmp_path, simulate.experiment(yaml, ["random"], budget=5,
                                                             recipe=TINY))
    simulate.check_config(tmp_path, simulate.experiment(yaml, ["coreset"], recipe=TINY,
                                                         rounds=7))  # a new cell, more rounds
    simulate.check_config(tmp_path, simulate.experiment(yaml, ["random"], recipe=TINY,
                                                         rounds=2, rare_classes=("four",)))
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["rounds"] == 7 and stored["rare_classes"] == ["four"]
    assert set(stored["queries"]) == {"random", "coreset"}
    # a folder written before a field existed (here the recipe's engine and the queries'
    # seconds_per_box) is the same experiment when the new field has its default
    del stored["recipe"]["engine"], stored["queries"]["random"]["seconds_per_box"]
    (tmp_path / "config.json").write_text(json.dumps(stored))
    simulate.check_config(tmp_path, simulate.experiment(yaml, ["random"], recipe=TINY))
    with pytest.raises(ValueError, match="recipe"):
        simulate.check_config(tmp_path, simulate.experiment(
            yaml, ["random"], recipe=recipe("tiny", epochs=1, engine="ray")))


def test_rare_classes_of_the_samples(tiny_dataset):
    assert simulate.rare_classes(tiny_dataset / "dataset.yaml", share=0.05) == ["four", "seven"]


# --------------------------------------------------------------------------- a real quick run


@pytest.mark.slow
def test_quick_benchmark_trains_resumes_and_reports(tmp_path, tiny_dataset):
    """The make-test configuration: tiny preset, 1 seed, random and least confidence."""
    yaml = str(tiny_dataset / "dataset.yaml")
    config = simulate.experiment(yaml, ["random", "least_confidence"], budget=8, recipe=TINY,
                                 rounds=1)
    out = tmp_path / "bench"
    simulate.run_grid(out, config, seeds=[0], progress=False, echo=lambda *_: None)
    cells = simulate.load_cells(out)
    assert [(c["strategy"], len(c["rounds"])) for c in cells] == [
        ("least_confidence", 2), ("random", 2)]
    seed_maps = {c["rounds"][0]["map50"] for c in cells}
    assert len(seed_maps) == 1  # both strategies share one seed model
    for cell in cells:
        first = cell["rounds"][1]
        assert first["labeled_images"] == cell["rounds"][0]["labeled_images"] + 8
        assert first["labeled_boxes"] > cell["rounds"][0]["labeled_boxes"]
        assert set(first["ap50_per_class"]) <= {"zero", "one", "two", "three", "four", "seven"}
        assert first["seconds"] > 0
    # A cell whose record was lost after round 1 began (killed before its first entry was
    # written) re-reads round 0 as it stood then, not with round 1's labels.
    with simulate._project(out / "work" / "random-s0", config, out) as project:
        seed_entry = simulate._round_entry(project, project.ledger.rounds()[0], None, True)
    assert seed_entry["labeled_images"] == cells[0]["rounds"][0]["labeled_images"]
    assert seed_entry["labeled_boxes"] == cells[0]["rounds"][0]["labeled_boxes"]

    # Running the same grid again resumes: finished rounds are not retrained.
    random_cell = out / "cells" / "random-s0.json"
    before = json.loads(random_cell.read_text())
    simulate.run_grid(out, config, ["random"], [0], progress=False, echo=lambda *_: None)
    assert len(list((out / "work" / "scores").iterdir())) >= 1  # one cache for every cell
    assert json.loads(random_cell.read_text()) == before  # finished rounds are not retrained

    # One cell recomputed on its own, through the benchmark script.
    simulate.reset_cell(out, "random", 0)
    assert not random_cell.exists()
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_al.py"), "--out", str(out),
                    "--data", yaml, "--strategies", "random", "--seeds", "0", "--rounds", "1",
                    "--budget", "8", "--recipe", "tiny", "--epochs", "1", "--quiet"], check=True)
    assert len(json.loads(random_cell.read_text())["rounds"]) == 2
    assert (out / "summary.md").exists() and (out / "learning_curves.png").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["strategies"]) == {"random", "least_confidence"}
    assert summary["rare_classes"] == ["four", "seven"]
    picks = json.loads((out / "picks" / "least_confidence-s0.json").read_text())
    assert len(picks["1"]) == 8 and len(set(picks["1"])) == 8
    assert (tiny_dataset / "images" / "pool" / picks["1"][0]).is_file()
    composition = summary["picks"]
    assert composition["pool"][0]["images"] == 60
    first = composition["least_confidence"][0]
    assert first["images"] == 8 and 0 <= first["hard"] <= 1
    assert sum(first[f"scene:{k}"] for k in simulate.SCENE_KINDS) == pytest.approx(1)
    assert "Scene kinds among the picks" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_committee_cell_selects_by_the_members_disagreement(tmp_path, tiny_dataset):
    """One committee round: 3 members fine-tuned from the seed model on bootstrap resamples,
    and the picks are the pool images they disagree on most."""
    from alkit.core.disagreement import committee_disagreement
    from alkit.loop.ledger import Ledger
    from alkit.model import scoring

    config = simulate.experiment(str(tiny_dataset / "dataset.yaml"), ["committee"], budget=6,
                                 recipe=TINY, rounds=1)
    out = tmp_path / "bench"
    cell = simulate.run_cell(out, config, "committee", 0, progress=False, echo=lambda *_: None)
    assert cell["rounds"][1]["labeled_images"] == cell["rounds"][0]["labeled_images"] + 6
    project = out / "work" / "committee-s0"
    members = sorted((project / "runs" / "round_001_committee").glob("member*/weights/best.pt"))
    assert len(members) == 3
    with Ledger(project) as ledger:
        assert ledger.rounds()[1].params["strategy_parts"]["utility"]["members"] == 3
        picks = ledger.queries(1)
        pool = [r["path"] for r in ledger.images(split="pool")]
    member_scores = [scoring.score_pool(m, pool, imgsz=64, cache_dir=out / "work" / "scores",
                                        progress=False) for m in members]
    disagreement = dict(zip(member_scores[0].paths, committee_disagreement(member_scores),
                            strict=True))
    assert [q["score"] for q in picks] == pytest.approx([disagreement[q["path"]] for q in picks])
    unpicked = [v for p, v in disagreement.items() if p not in {q["path"] for q in picks}]
    assert min(q["score"] for q in picks) >= max(unpicked) - 1e-12


def test_load_config_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config.json not found: not a benchmark folder"):
        simulate.load_config(tmp_path)
    (tmp_path / "config.json").write_text('{"rounds": 2}')
    assert simulate.load_config(tmp_path) == {"rounds": 2}


def test_config_paths_are_stored_relative_to_the_folder_and_survive_a_move(tmp_path,
                                                                           monkeypatch):
    data = tmp_path / "repo" / "data"
    (data / "pool").mkdir(parents=True)
    yaml = data / "dataset.yaml"
    out = tmp_path / "repo" / "results" / "grid"
    out.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "repo")  # the experiment is given paths from the repository
    exp = simulate.experiment("data/dataset.yaml", ["random"], recipe=TINY, pool="data/pool")
    simulate.check_config(out, exp)
    stored = json.loads((out / "config.json").read_text())
    assert stored["dataset_yaml"] == "../../data/dataset.yaml"
    assert stored["pool"] == "../../data/pool" and stored[simulate.RELATIVE_KEY] is True
    assert simulate.load_config(out)["dataset_yaml"] == str(yaml)
    simulate.check_config(out, simulate.experiment(str(yaml), ["random"], recipe=TINY,
                                                   pool=str(data / "pool")))  # same, absolute
    with pytest.raises(ValueError, match=r"differs in \['dataset_yaml'\]"):
        simulate.check_config(out, simulate.experiment("other.yaml", ["random"], recipe=TINY,
                                                       pool="data/pool"))
    # the repository cloned elsewhere: the stored paths follow the folder
    (tmp_path / "repo").rename(tmp_path / "clone")
    moved = tmp_path / "clone" / "results" / "grid"
    assert simulate.load_config(moved)["dataset_yaml"] == str(tmp_path / "clone" / "data" /
                                                             "dataset.yaml")
    # folders written before: paths absolute, or relative to the working directory as given
    monkeypatch.chdir(tmp_path / "clone")
    del stored[simulate.RELATIVE_KEY]
    for old in (str(tmp_path / "clone" / "data" / "dataset.yaml"), "data/dataset.yaml"):
        (moved / "config.json").write_text(json.dumps(stored | {"dataset_yaml": old,
                                                                "pool": "data/pool"}))
        assert simulate.load_config(moved)["dataset_yaml"] == str(tmp_path / "clone" / "data" /
                                                                 "dataset.yaml")
        simulate.check_config(moved, exp)  # the same experiment; rewritten relative
        rewritten = json.loads((moved / "config.json").read_text())
        assert rewritten["dataset_yaml"] == "../../data/dataset.yaml"
        assert rewritten[simulate.RELATIVE_KEY] is True


def _bench_al():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_al", ROOT / "benchmarks" / "bench_al.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cells_command_line_drops_switches_without_eating_the_next_option():
    without = _bench_al()._without
    argv = ["--reset", "--extension-cap", "3", "--extend-random", "--seeds=0,1", "--jobs", "2",
            "--quiet"]
    assert without(argv, "--reset", "--extend-random", "--seeds", "--jobs") == [
        "--extension-cap", "3", "--quiet"]


@pytest.mark.slow
def test_a_grid_in_processes_extends_random_after_its_cells(tmp_path, tiny_dataset):
    """--jobs 2 runs each cell in its own process, then random's extension per seed."""
    out = tmp_path / "grid"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_al.py"), "--out", str(out),
                    "--data", str(tiny_dataset / "dataset.yaml"), "--strategies",
                    "random,least_confidence", "--seeds", "0", "--rounds", "1", "--budget", "8",
                    "--recipe", "tiny", "--epochs", "1", "--fixed-start", "--extend-random",
                    "--extension-cap", "2", "--jobs", "2", "--quiet"], check=True)
    log = (out / "commands.txt").read_text()
    assert "--strategies random --seeds 0 --extension-only" in log
    assert "fixed start" in (out / "summary.md").read_text()
    assert {p.name for p in (out / "cells").iterdir()} == {"random-s0.json",
                                                            "least_confidence-s0.json"}


def test_a_strategy_file_adds_names_and_leaves_alkits_own(tmp_path):
    """--strategy-file: its STRATEGIES come first, other names pass on to alkit; a file
    without the dict, or no file, is refused naming it."""
    bench = _bench_al()
    mine = tmp_path / "mine.py"
    mine.write_text("from alkit.core.selectors import TopK\n"
                    "from alkit.core.strategy import Strategy\n"
                    "from alkit.core.utility import Uncertainty\n"
                    "STRATEGIES = {'mine': Strategy('mine', TopK(), "
                    "Uncertainty('margin', 'max'))}\n")
    args = bench.parse_args(["--strategy-file", str(mine), "--strategies", "random,mine"])
    named = bench.strategies_named(args)
    assert named[0] == "random" and named[1].name == "mine"
    assert named[1].utility.measure == "margin"
    assert bench.strategies_named(bench.parse_args(["--strategies", "random"])) == ["random"]
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    for path, words in ((empty, "expected a dict STRATEGIES"), (tmp_path / "no.py", "no such")):
        with pytest.raises(SystemExit, match=words):
            bench.strategies_named(bench.parse_args(["--strategy-file", str(path)]))
