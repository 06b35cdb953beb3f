"""What one photo holds (`Prediction`): the masks, the verdict, the outline and homography, the
points; validated when built, plain JSON-able in `summary()`. Drawing is viz.py's."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .points import GridPoints

@dataclass
class Prediction:
    """What one photo holds. Outline and homography are None unless `detected`.

    masks:            name -> H×W float32 probability in [0, 1], at the photo's exact size:
                      the board's own masks (a family detector's other channels left out).
    outline:          4×2 float32, the board's corners in photo pixels, clockwise from the
                      top-left (may lie outside the photo when the board is cut by the frame).
    homography:       3×3 float64 mapping pattern sheet pixels to photo pixels.
    detected:         the decision: the board of the spec is there (the `mask` region passed
                      the DetectionRule and, for a grid pattern, its points form a grid of the
                      spec).
    score:            the network's confidence in the `mask` region, in [0, 1]: mean_confidence
                      × fill × min(1, area / min_area); not the decision (a board of another
                      layout scores high and is not detected).
    area_fraction:    the largest `mask` region's share of the photo.
    mean_confidence:  mean probability inside that region.
    fill:             IoU of that region with its fitted quadrilateral (clipped to the frame).
    ms:               wall time for this photo (pre-processing, network, geometry; the mean
                      over the photos of one `predict_batch` call); a video frame's through
                      `Tracker`, tracked or searched, its whole time there.
    points:           for a grid pattern, the board's points with their identities (GridPoints:
                      sub-pixel positions, (column, row) ids, confidences); `mask`, outline and
                      homography are then derived from them. None otherwise.
    board_without_grid: the network saw a board (its region passed the DetectionRule, close up
                      too) whose points form no grid of the spec: a board, not the spec's (most
                      often a spec that counts the board's inner corners, where it counts squares).
    """

    masks: dict[str, np.ndarray]
    outline: np.ndarray | None
    homography: np.ndarray | None
    detected: bool
    score: float
    area_fraction: float = 0.0
    mean_confidence: float = 0.0
    fill: float = 0.0
    ms: float = 0.0
    points: GridPoints | None = None
    board_without_grid: bool = False

    def __post_init__(self) -> None:
        if self.points is not None and not isinstance(self.points, GridPoints):
            raise TypeError(f"Prediction.points must be GridPoints or None, not {type(self.points).__name__}")

    def summary(self) -> dict:
        """Everything but the masks, as plain JSON-able values."""
        return {
            "detected": self.detected, "score": round(self.score, 4),
            "area_fraction": round(self.area_fraction, 5),
            "mean_confidence": round(self.mean_confidence, 4), "fill": round(self.fill, 4),
            "outline": None if self.outline is None else np.round(self.outline, 2).tolist(),
            "homography": None if self.homography is None else self.homography.tolist(),
            "ms": round(self.ms, 2),
            "points": None if self.points is None else self.points.summary(),
            "board_without_grid": self.board_without_grid,
        }
