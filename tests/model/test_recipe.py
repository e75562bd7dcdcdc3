"""The training recipe: one preset table, validation, and what each round hands Ultralytics."""

import pytest

from alkit.model.recipe import RECIPES, Recipe, as_recipe, recipe


def test_presets_and_overrides():
    assert set(RECIPES) == {"tiny", "cpu", "bench", "starter", "classic"}
    assert recipe("classic").imgsz == 640 and recipe("bench").epochs == 15
    assert recipe("tiny", epochs=5).epochs == 5 and recipe("tiny", epochs=None).epochs == 2
    assert as_recipe("cpu") == Recipe() and as_recipe(RECIPES["tiny"]) is RECIPES["tiny"]
    with pytest.raises(ValueError, match="unknown recipe"):
        recipe("huge")
    with pytest.raises(TypeError, match="unknown recipe setting"):
        recipe("cpu", epoch=3)


@pytest.mark.parametrize(("fields", "message"), [
    ({"epochs": 0}, "epochs must be >= 1"), ({"seed_epochs": -1}, "seed_epochs"),
    ({"mixup": 2.0}, r"mixup must lie in \[0, 1\]"), ({"workers": -1}, "workers"),
])
def test_bad_recipes_say_what_was_expected(fields, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**fields)


def test_each_round_trains_with_the_schedule():
    starter = RECIPES["starter"]
    assert starter.train_kwargs(0, random_state=7)["epochs"] == 30
    assert starter.train_kwargs(1, random_state=7)["epochs"] == 5
    cpu = RECIPES["cpu"]
    assert cpu.train_kwargs(2, random_state=1)["mixup"] == 0.0  # a little mixup after round 2
    assert cpu.train_kwargs(3, random_state=1)["mixup"] == 0.1
    assert cpu.train_kwargs(3, random_state=1)["seed"] == 1
    assert Recipe(seed_epochs=0).epochs_of(0) == 0 and Recipe().epochs_of(0) == 30
