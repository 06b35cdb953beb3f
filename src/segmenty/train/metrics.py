"""Segmentation metrics per mask: true-positive rate, true-negative rate, IoU.

Counts are summed over the whole validation set before dividing, so IoU is the set's
intersection over its union (not a mean of per-image IoUs, which blank scenes would distort),
and counts from several DDP ranks can simply be added.
"""
from __future__ import annotations

import math

import torch

from ..scores import MASK_THRESHOLD


def confusion_counts(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """M×4 int64 counts (tp, fp, fn, tn) per mask channel at probability MASK_THRESHOLD."""
    pred = logits > math.log(MASK_THRESHOLD / (1 - MASK_THRESHOLD))  # sigmoid(x) > t  <=>  x > logit(t)
    t = targets > 0.5
    dims = (0, 2, 3)
    tp = (pred & t).sum(dims)
    fp = (pred & ~t).sum(dims)
    fn = (~pred & t).sum(dims)
    tn = (~pred & ~t).sum(dims)
    return torch.stack([tp, fp, fn, tn], dim=1).long()


def _ratio(num: int, den: int, empty: float) -> float:
    return num / den if den else empty


def mask_metrics(counts: torch.Tensor, mask_names: list[str]) -> dict[str, float]:
    """{'tpr_<mask>', 'tnr_<mask>', 'iou_<mask>'} from summed confusion counts.

    With no positive (negative) pixels anywhere TPR (TNR) is undefined: NaN. With an empty
    union, prediction and truth agree perfectly: IoU 1.
    """
    out: dict[str, float] = {}
    for name, (tp, fp, fn, tn) in zip(mask_names, counts.tolist()):
        out[f"tpr_{name}"] = _ratio(tp, tp + fn, math.nan)
        out[f"tnr_{name}"] = _ratio(tn, tn + fp, math.nan)
        out[f"iou_{name}"] = _ratio(tp, tp + fp + fn, 1.0)
    return out


def metric_names(mask_names: list[str]) -> list[str]:
    """Column names in log order: every metric for `mask`, then for each other mask."""
    return [f"{m}_{name}" for name in mask_names for m in ("tpr", "tnr", "iou")]


@torch.no_grad()
def scene_confusion(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, device: torch.device,
                    precision: str = "fp32", batch: int = 16) -> torch.Tensor:
    """Confusion counts (M×4: tp, fp, fn, tn) of `model` on a set of scenes."""
    from ..hardware import autocast

    counts = torch.zeros(masks.shape[1], 4, dtype=torch.long, device=device)
    for i in range(0, len(images), batch):
        x = images[i:i + batch].to(device).contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            logits = model(x)
        counts += confusion_counts(logits.float(), masks[i:i + batch].to(device))
    return counts
