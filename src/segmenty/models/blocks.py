"""Convolution blocks the encoder and decoder are built from, by name.

Every block maps (in_channels, out_channels, stride) to a small nn.Sequential, so a preset
can swap block types without touching the encoder or decoder code.
"""
from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn


def conv_bn_relu(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def seed_block(cin: int, cout: int, stride: int = 1, batchnorm: bool = True) -> nn.Sequential:
    """The original hourglass stage: (batch-norm), conv 5x5 + ReLU, conv 3x3 + ReLU."""
    layers: list[nn.Module] = [nn.BatchNorm2d(cin)] if batchnorm else []
    layers += [nn.Conv2d(cin, cout, 5, stride, 2), nn.ReLU(inplace=True),
               nn.Conv2d(cout, cout, 3, 1, 1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def seed_up_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """The original up stage's convolutions (no batch-norm)."""
    return seed_block(cin, cout, stride, batchnorm=False)


def conv_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Two 3x3 conv + BN + ReLU, the classic U-Net stage."""
    return nn.Sequential(*conv_bn_relu(cin, cout, 3, stride), *conv_bn_relu(cout, cout, 3))


def dwsep_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Two depthwise-separable 3x3 convs (MobileNet style): ~8x fewer FLOPs than conv_block."""
    return nn.Sequential(
        *conv_bn_relu(cin, cin, 3, stride, groups=cin), *conv_bn_relu(cin, cout, 1),
        *conv_bn_relu(cout, cout, 3, groups=cout), *conv_bn_relu(cout, cout, 1),
    )


BLOCKS: dict[str, Callable[..., nn.Sequential]] = {
    "seed": seed_block,
    "seed-up": seed_up_block,
    "conv": conv_block,
    "dwsep": dwsep_block,
}
