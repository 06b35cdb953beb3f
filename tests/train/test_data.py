import torch

from segmenty.patterns import load_pattern
from segmenty.synth import SyntheticDataset, recipe_by_name
from segmenty.train import TrainConfig
from segmenty.train.config import resolve_config
from segmenty.train.data import network_input, training_batches
from segmenty.train.distributed import DistInfo

PATTERN = "chessboard:5x4"


def _stream(tmp_path, start=0):
    config, pattern = resolve_config(TrainConfig(pattern=PATTERN, size=64, batch=3, workers=0, out=str(tmp_path)))
    return config, training_batches(pattern, recipe_by_name(config.recipe), config, start, DistInfo(),
                                     pin_memory=False)


def test_batches_are_the_dataset_samples_as_bytes(tmp_path):
    config, batches = _stream(tmp_path, start=6)
    try:
        batch = next(batches)
    finally:
        batches.close()
    assert batch["image"].dtype == torch.uint8 and batch["image"].shape == (3, 3, 64, 64)
    assert batch["masks"].dtype == torch.bool and batch["masks"].shape == (3, 2, 64, 64)
    data = SyntheticDataset(load_pattern(PATTERN), size=64, seed=config.seed, recipe=recipe_by_name(config.recipe))
    for k in range(3):  # samples 6, 7, 8: the stream starts where it is told
        sample = data.sample(6 + k)
        assert torch.equal(batch["image"][k].permute(1, 2, 0), torch.from_numpy(sample.image))
    x = network_input(batch["image"])
    assert x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert torch.equal(x * 255, batch["image"].float())
