"""Model presets by name (timm style): a preset is data, a ModelConfig, not a copy of code.

Plain data without torch, so that options, help texts and run folders can name and check
presets before (or without) loading the network library.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelConfig:
    """Everything that sizes a network; presets in registry.py are instances of this."""

    encoder: tuple[int, ...]          # output channels of each down stage
    decoder: tuple[int, ...]          # output channels of each up stage (deepest first)
    mix: tuple[int, ...] = ()         # widths of the bottleneck's 1x1 layers
    head: tuple[int, ...] = ()        # widths of the head's hidden 1x1 layers
    encoder_block: str = "conv"
    decoder_block: str = "conv"
    downsample: str = "pool"          # "pool": block then 2x2 max-pool; "stride": stride-2 block
    upsample: str = "transposed"      # "transposed": 3x3 stride-2 transposed conv; "bilinear"
    dropout: float = 0.0
    description: str = ""

    @property
    def stride(self) -> int:
        """The multiple of which input height and width must be: one halving per down stage."""
        return 2 ** len(self.encoder)



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
