"""Training losses. Each maps (logits N×M×H×W, targets N×M×H×W in {0, 1}) to a scalar.

`balanced` is the original hourglass loss: the board is often a small part of the image, so
plain per-pixel losses are dominated by background; weighting the error over positive and
over negative pixels 50/50 makes a missed board cost as much as a false one.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import unknown_name


def balanced_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per sample and mask channel: 0.5·MSE over positive + 0.5·MSE over negative pixels.

    Computed on sigmoid probabilities. A channel with no positive (or no negative) pixels, e.g.
    a blank scene, contributes 0 for that half, as the original's (sum / (count + eps)) did.
    """
    p = torch.sigmoid(logits.float())
    t = targets.float()
    dims = (2, 3)
    pos = ((1 - p) ** 2 * t).sum(dims) / t.sum(dims).clamp_min(1)
    neg = (p ** 2 * (1 - t)).sum(dims) / (1 - t).sum(dims).clamp_min(1)
    return (0.5 * pos + 0.5 * neg).mean()


def bce_dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits plus soft Dice (per sample and channel, +1 smoothing)."""
    logits, t = logits.float(), targets.float()
    bce = F.binary_cross_entropy_with_logits(logits, t)
    p = torch.sigmoid(logits)
    dims = (2, 3)
    dice = (2 * (p * t).sum(dims) + 1) / (p.sum(dims) + t.sum(dims) + 1)
    return bce + (1 - dice).mean()


def bce_batch_dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice per channel over the whole batch. Per-sample Dice
    rewards an empty prediction fully on every sample whose channel is empty; where most
    samples lack a mask (a family's circles on chessboards, its corners on circle grids,
    blank scenes) that pull drowned the small masks: the family detector's `corners` stayed
    at IoU 0 for 4,500 steps and its `circles` (in a quarter of the scenes) for 8,600. Over
    the batch, an empty sample only adds its false positives."""
    logits, t = logits.float(), targets.float()
    bce = F.binary_cross_entropy_with_logits(logits, t)
    p = torch.sigmoid(logits)
    dims = (0, 2, 3)
    dice = (2 * (p * t).sum(dims) + 1) / (p.sum(dims) + t.sum(dims) + 1)
    return bce + (1 - dice).mean()


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "balanced": balanced_loss,
    "bce-dice": bce_dice_loss,
    "bce-batch-dice": bce_batch_dice_loss,
}


def get_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name not in LOSSES:
        raise unknown_name("loss", name, LOSSES)
    return LOSSES[name]
