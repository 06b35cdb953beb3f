"""Model presets by name (timm style): a preset is data, a ModelConfig, not a copy of code."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import unknown_name
from .unet import ModelConfig, SegmentationNet

MODELS: dict[str, ModelConfig] = {
    # The original network, faithfully: 8 down stages (BN, conv5x5, conv3x3, 2x2 max-pool), two
    # 100-unit dense layers as 1x1 convs with dropout 0.1, 8 up stages (transposed conv,
    # concatenation, conv5x5, conv3x3, 100 filters), a head of 1x1 convs 30, 30.
    "hourglass-seed": ModelConfig(
        encoder=(40, 40, 80, 100, 100, 100, 80, 80), decoder=(100,) * 8, mix=(100, 100),
        head=(30, 30), encoder_block="seed", decoder_block="seed-up", downsample="pool",
        upsample="transposed", dropout=0.1,
        description="the original hourglass network (input multiple of 256)"),
    # CPU presets: strided depthwise-separable or plain 3x3 stages, fewer channels.
    "unet-s": ModelConfig(
        encoder=(16, 32, 48, 64, 96), decoder=(64, 48, 32, 16, 8), head=(16,),
        encoder_block="conv", decoder_block="conv", downsample="stride", upsample="bilinear",
        description="small U-Net, plain 3x3 convolutions"),
    "unet-xs": ModelConfig(
        encoder=(16, 24, 32, 48, 64), decoder=(48, 32, 24, 16, 8), head=(16,),
        encoder_block="dwsep", decoder_block="dwsep", downsample="stride", upsample="bilinear",
        description="extra-small U-Net, depthwise-separable convolutions"),
    # Measured on 2 shared CPU cores (fp32, channels_last, one thread, batch 8 at 256 px): the
    # full-resolution stages cost most of the time (memory traffic more than FLOPs): unet-s
    # 180 ms per sample, with its decoder stopped at 1/2 97 ms, at 1/4 69 ms; unet-n 58 ms,
    # unet-n6 43 ms. So these decoders stop early and the logits are upsampled bilinearly (a
    # board's outline is smooth). After 2,400 training samples at 256 px (chessboard:10x7) the
    # validation IoU of `mask` was the same within noise: unet-n 0.30, unet-n6 0.30, unet-s with
    # a 1/4 decoder 0.32. unet-n is the default: 3x faster than unet-s, still 1/2-resolution.
    "unet-n": ModelConfig(
        encoder=(12, 24, 32, 48, 64), decoder=(48, 32, 24, 16), head=(16,),
        encoder_block="conv", decoder_block="conv", downsample="stride", upsample="bilinear",
        description="narrow U-Net, 3x3 convolutions, decoder stops at 1/2 resolution"),
    "unet-n6": ModelConfig(
        encoder=(12, 24, 32, 48, 64, 96), decoder=(64, 48, 32, 24), head=(16,),
        encoder_block="conv", decoder_block="conv", downsample="stride", upsample="bilinear",
        description="narrow 6-level U-Net, 3x3 convolutions, decoder stops at 1/4 resolution"),
}
DEFAULT_MODEL = "unet-n"


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
