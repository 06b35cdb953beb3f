"""The points seen of a board in one photo (`GridPoints`: positions, ids, confidences, how the
ids were found). The grid a board prints is the pattern's (patterns/grid.py: `GridLayout`,
`grid_layout`, re-exported here for the points' modules).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...patterns.grid import BLOB, SADDLE, GridLayout, grid_layout

__all__ = ["BLOB", "IDENTITIES", "SADDLE", "GridLayout", "GridPoints", "grid_layout"]

IDENTITIES = ("squares", "markers", "layout", "convention", "relative")


@dataclass
class GridPoints:
    """A board's points seen in one photo.

    xy:          N×2 float32, sub-pixel positions in photo pixels (OpenCV convention).
    ids:         N×2 int32, each point's (column, row) on the pattern's grid of points, unique.
    confidence:  N float32 in [0, 1]: the network's probability at the point, halved for a
                 point the network missed and the photo search found.
    grid:        (columns, rows) of the pattern's grid of points (ids lie within it).
    partial:     not every point of the board is in view.
    identity:    how the ids were fixed: "squares" (the squares' colours tell a whole board's
                 orientation), "markers" (ChArUco markers: absolute even in a partial view),
                 "layout" (an asymmetric layout fits one way only), "convention" (a board
                 symmetric under a half-turn: (0, 0) is the end higher in the photo), or
                 "relative" (a partial view that cannot be placed on the board: ids are
                 consistent within the view, relative to its visible grid).
    """

    xy: np.ndarray
    ids: np.ndarray
    confidence: np.ndarray
    grid: tuple[int, int]
    partial: bool
    identity: str

    def __post_init__(self) -> None:
        self.xy = np.asarray(self.xy, np.float32).reshape(-1, 2)
        self.ids = np.asarray(self.ids, np.int32).reshape(-1, 2)
        self.confidence = np.asarray(self.confidence, np.float32).reshape(-1)
        self.grid = (int(self.grid[0]), int(self.grid[1]))
        n = len(self.xy)
        if len(self.ids) != n or len(self.confidence) != n:
            raise ValueError(f"GridPoints: {n} positions, {len(self.ids)} ids, {len(self.confidence)} confidences")
        if not np.isfinite(self.xy).all():
            raise ValueError("GridPoints: positions must be finite")
        if n and ((self.ids < 0).any() or (self.ids >= np.array(self.grid)).any()):
            raise ValueError(f"GridPoints: ids outside the {self.grid[0]}x{self.grid[1]} grid")
        if len({tuple(i) for i in self.ids.tolist()}) != n:
            raise ValueError("GridPoints: ids must be unique")
        if n and not ((self.confidence >= 0) & (self.confidence <= 1)).all():
            raise ValueError("GridPoints: confidence must lie in [0, 1]")
        if self.identity not in IDENTITIES:
            raise ValueError(f"GridPoints: identity '{self.identity}' is not one of {', '.join(IDENTITIES)}")

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def absolute(self) -> bool:
        """The ids are the board's own (the same point has the same id in every view)."""
        return self.identity != "relative"

    def summary(self) -> dict:
        """Plain JSON-able values (predictions.json)."""
        return {"count": len(self), "grid": list(self.grid), "partial": self.partial,
                "identity": self.identity, "absolute": self.absolute,
                "xy": np.round(self.xy.astype(np.float64), 3).tolist(), "ids": self.ids.tolist(),
                "confidence": np.round(self.confidence.astype(np.float64), 3).tolist()}
