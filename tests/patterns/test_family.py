"""Board families: the members and their masks, synthesis over a family, training for one."""
from __future__ import annotations

import json

import numpy as np
import pytest

from segmenty.errors import UsageError
from segmenty.patterns.family import FAMILIES, family_for_kind, family_preset, load_family
from segmenty.synth import SyntheticDataset
from segmenty.synth.recipe import Recipe, recipe_by_name
from segmenty.train import TrainConfig, train


@pytest.fixture(scope="module")
def boards():
    return load_family("boards")


def test_family_members_share_one_set_of_masks_and_weights_sum_to_one(boards):
    kinds = {p.spec.split(":")[0] for p in boards.patterns}
    assert kinds == {"chessboard", "charuco", "circles"}
    assert boards.mask_names == ["mask", "circles", "corners"]
    assert all(p.mask_names == boards.mask_names for p in boards.patterns)
    chess = next(p for p in boards.patterns if p.spec.startswith("chessboard"))
    assert not chess.masks["circles"].any() and chess.masks["corners"].any()
    assert boards.weights.sum() == pytest.approx(1.0)
    shares = {k: boards.weights[[p.spec.startswith(k) for p in boards.patterns]].sum()
              for k in ("chessboard", "charuco", "circles")}
    assert shares == pytest.approx({k: v[0] for k, v in FAMILIES["boards"].groups.items()})


def test_family_lookup_by_kind_and_unknown_names():
    assert family_for_kind("charuco").name == "boards"
    assert family_for_kind("segmenty") is None
    with pytest.raises(UsageError, match="boards"):
        family_preset("bord")


def test_family_dataset_is_seeded_replayable_and_draws_every_kind(boards):
    a = SyntheticDataset(boards, size=64, seed=3, recipe=recipe_by_name("family"))
    b = SyntheticDataset(boards, size=64, seed=3, recipe=recipe_by_name("family"))
    sheets = set()
    for i in range(30):
        s, t = a.sample(i), b.sample(i)
        assert np.array_equal(s.image, t.image) and s.params == t.params
        assert list(s.masks) == boards.mask_names
        sheets.add(s.params["sheet"].split(":")[0])
    assert sheets == {"chessboard", "charuco", "circles"}
    s = a.sample(7)
    again = a.replay(s.params)
    assert np.array_equal(s.image, again.image)
    assert all(np.array_equal(s.masks[n], again.masks[n]) for n in s.masks)


def test_a_circle_grid_scene_marks_circles_not_corners(boards):
    ds = SyntheticDataset(boards, size=96, seed=0, recipe=Recipe.original(blank=False))
    for i in range(60):
        s = ds.sample(i)
        if s.params["sheet"].startswith("circles") and s.masks["mask"].sum() > 500:
            assert not s.masks["corners"].any() and s.masks["circles"].any()
            return
    pytest.fail("no circle grid scene in 60 samples")


def test_family_training_records_the_family_and_names_the_run(tmp_path):
    out = train(TrainConfig(family="boards", recipe="family", size=64, model="unet-n", batch=2, steps=2,
                            val_count=2, out=str(tmp_path / "run"), workers=0))
    config = json.loads((out / "config.json").read_text())
    assert config["family"] == "boards" and config["pattern"] == FAMILIES["boards"].record_spec
    from segmenty.runs import load_model
    loaded = load_model(out)
    assert loaded.mask_names == ["mask", "circles", "corners"] and loaded.config["family"] == "boards"
