"""What the whole suite shares: untrained checkpoints (prediction, calibration and the CLI are
tested on what they do with a network's output, not on its quality), written once."""
from __future__ import annotations

from pathlib import Path

import pytest


def write_checkpoint(path: Path, pattern: str = "chessboard:10x7", model: str = "unet-s",
                     mask_names: list[str] | None = None, config: dict | None = None, size: int = 64,
                     **extra) -> Path:
    """An untrained `model` (seed 0) for `pattern` at `size` px, saved as a segmenty checkpoint."""
    import torch

    import segmenty
    from segmenty.models import build_model
    from segmenty.runs import save_checkpoint

    spec = segmenty.load_pattern(pattern).spec
    names = mask_names or segmenty.load_pattern(pattern).mask_names
    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, {"model": build_model(model, len(names)).state_dict(), "model_name": model,
                           "mask_names": names, "pattern": spec, "size": size, "config": config or {},
                           "step": 0, **extra})
    return path


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained unet-s for chessboard:10x7 at 64 px, exported for CPU prediction as
    training's end exports a run's (so Predictors of it run in onnxruntime, in workers too)."""
    from segmenty.predict.onnx import export_for_checkpoint

    path = write_checkpoint(tmp_path_factory.mktemp("run") / "model.pt")
    export_for_checkpoint(path)
    return path
