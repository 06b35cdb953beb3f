"""Networks built by preset name (timm style); the presets themselves are data (presets.py)."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import unknown_name
from .presets import MODELS
from .unet import SegmentationNet



def list_models() -> list[str]:
    return list(MODELS)


def build_model(name: str, num_masks: int) -> SegmentationNet:
    """A fresh network for preset `name` with one output channel per mask."""
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    return SegmentationNet(MODELS[name], num_masks)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_mflops(model: nn.Module, size: int = 256) -> float:
    """Multiply-adds x2 of convolutions for one size×size image, in millions."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            spatial = out.shape[-1] * out.shape[-2] if isinstance(mod, nn.Conv2d) else inp[0].shape[-1] * inp[0].shape[-2]
            total += 2 * k * mod.out_channels * spatial

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total / 1e6
