"""An hourglass / U-Net segmenter as three swappable parts: encoder, bottleneck mix, decoder+head.

Read top to bottom:
- `Encoder` turns the image into features at scales 1, 1/2, ..., 1/2^n (the first "feature" is
  the input image itself, as in the original hourglass, so the finest skip is cheap).
- `Mix` is the bottleneck: 1x1 convolutions, i.e. the original's dense layers applied at every
  position, so the network stays fully convolutional and runs on any multiple of its stride.
- `Decoder` upsamples step by step, concatenating the encoder feature of the same scale; if it
  has fewer stages than the encoder, the logits are upsampled bilinearly the rest of the way.
- `Head` is a stack of 1x1 convolutions ending in one logit channel per mask.
`SegmentationNet` wires them together; a preset (registry.py) is only the data that sizes them.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import BLOCKS
from .presets import ModelConfig


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig, in_channels: int = 3):
        super().__init__()
        make = BLOCKS[cfg.encoder_block]
        self.stride_mode = cfg.downsample
        stages, cin = [], in_channels
        for cout in cfg.encoder:
            stages.append(make(cin, cout, 2 if cfg.downsample == "stride" else 1))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.channels = [in_channels, *cfg.encoder]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [x]
        for stage in self.stages:
            x = stage(x)
            if self.stride_mode == "pool":
                x = F.max_pool2d(x, 2)
            feats.append(x)
        return feats


def pointwise_layers(cin: int, widths: tuple[int, ...]) -> tuple[list[nn.Module], int]:
    """1x1 conv + ReLU per width (dense layers applied at every position); returns the
    layers and the output channel count."""
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Conv2d(cin, w, 1), nn.ReLU(inplace=True)]
        cin = w
    return layers, cin


class Mix(nn.Module):
    """The bottleneck: per-position dense layers (1x1 convs) with ReLU, then dropout."""

    def __init__(self, cin: int, widths: tuple[int, ...], dropout: float):
        super().__init__()
        layers, cin = pointwise_layers(cin, widths)
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig, skip_channels: list[int], cin: int):
        super().__init__()
        assert len(cfg.decoder) <= len(skip_channels) - 1, "more decoder than encoder stages"
        make = BLOCKS[cfg.decoder_block]
        ups, blocks = [], []
        # skip_channels[k] is the channel count at scale 1/2^k; decoding starts one scale
        # above the deepest.
        for i, cout in enumerate(cfg.decoder):
            skip = skip_channels[len(skip_channels) - 2 - i]
            if cfg.upsample == "transposed":
                ups.append(nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1))
            else:
                ups.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                         nn.Conv2d(cin, cout, 1)))
            blocks.append(make(cout + skip, cout))
            cin = cout
        self.ups, self.blocks = nn.ModuleList(ups), nn.ModuleList(blocks)
        self.out_channels = cin

    def forward(self, x: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        for i, (up, block) in enumerate(zip(self.ups, self.blocks)):
            skip = feats[len(feats) - 2 - i]
            x = block(torch.cat([up(x), skip], dim=1))
        return x


class Head(nn.Module):
    def __init__(self, cin: int, widths: tuple[int, ...], num_masks: int):
        super().__init__()
        layers, cin = pointwise_layers(cin, widths)
        layers.append(nn.Conv2d(cin, num_masks, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class SegmentationNet(nn.Module):
    """Image N×3×H×W in [0, 1] -> mask logits N×M×H×W (H, W multiples of `stride`)."""

    def __init__(self, cfg: ModelConfig, num_masks: int):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.mix = Mix(self.encoder.channels[-1], cfg.mix, cfg.dropout)
        self.decoder = Decoder(cfg, self.encoder.channels, self.mix.out_channels)
        self.head = Head(self.decoder.out_channels, cfg.head, num_masks)
        self.stride = cfg.stride
        self.num_masks = num_masks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x)
        y = self.head(self.decoder(self.mix(feats[-1]), feats))
        if y.shape[-2:] != x.shape[-2:]:
            y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y
