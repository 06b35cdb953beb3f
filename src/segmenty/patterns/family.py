"""Pattern families: every board of a kind, for detectors that are trained once and shipped.

A family detector is trained on scenes of many boards (a chessboard of any size, ChArUco of
any size and the common dictionaries, symmetric and asymmetric circle grids), so that it finds
a board whatever its layout; the layout a user prints (`chessboard:8x6`) then only decides the
points' identities at prediction time. A family is data: the specs it draws from, each
family's share of the scenes, and the spec a run records for its snapshots and reports.

Every member gets the union of the family's masks (a chessboard has no `circles`: it is all
False there), so one network's channels mean the same thing in every scene.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..errors import unknown_name
from .base import Pattern, board_size_fits
from .chessboard import SMALLEST_SQUARES
from .load import load_pattern

# Members are rendered this coarsely: a family scene is at most a few hundred pixels wide,
# and at 40 dpi a 25 mm square is 39 px (ChArUco markers force more where they need it).
FAMILY_DPI = 40.0


@dataclass(frozen=True)
class FamilyPreset:
    """A family as data: `groups` maps each board kind to (its share of the scenes, its specs)."""

    name: str
    description: str
    groups: dict[str, tuple[float, tuple[str, ...]]]
    record_spec: str  # the spec a run records (snapshots, reports, a Predictor given no pattern)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.groups)


def _chessboards(low: int = 3, high: int = 13) -> tuple[str, ...]:
    # Placement turns boards every way, so C x R covers R x C; 3x3 is too small to be found.
    return tuple(f"chessboard:{c}x{r}" for r in range(low, high + 1) for c in range(r, high + 1)
                 if board_size_fits((c, r), SMALLEST_SQUARES))


# The dictionaries most boards are printed with (OpenCV's default first); each board size takes
# the next one that has markers enough.
CHARUCO_DICTIONARIES = ("DICT_6X6_250", "DICT_4X4_50", "DICT_5X5_100", "DICT_7X7_250", "DICT_4X4_1000",
                        "DICT_APRILTAG_36h11")
_DICTIONARY_SIZES = {"DICT_6X6_250": 250, "DICT_4X4_50": 50, "DICT_5X5_100": 100, "DICT_7X7_250": 250,
                     "DICT_4X4_1000": 1000, "DICT_APRILTAG_36h11": 587}


def _charuco_boards(low: int = 3, high: int = 12) -> tuple[str, ...]:
    specs, turn = [], 0
    for r in range(low, high + 1):
        for c in range(r, high + 1):
            for _ in range(len(CHARUCO_DICTIONARIES)):
                name = CHARUCO_DICTIONARIES[turn % len(CHARUCO_DICTIONARIES)]
                turn += 1
                if _DICTIONARY_SIZES[name] >= c * r // 2:
                    # 3x3 (too small to be found) still takes its turn: every other board keeps
                    # the dictionary the shipped detector was trained with.
                    if board_size_fits((c, r), SMALLEST_SQUARES):
                        specs.append(f"charuco:{c}x{r}:{name}")
                    break
    return tuple(specs)


def _circle_grids() -> tuple[str, ...]:
    symmetric = tuple(f"circles:{c}x{r}" for r in range(3, 11) for c in range(r, 11))
    asymmetric = tuple(f"circles:{c}x{r}:asym" for c in range(3, 8) for r in range(4, 14))
    return symmetric + asymmetric


FAMILIES: dict[str, FamilyPreset] = {
    "boards": FamilyPreset(
        "boards", "calibration boards: chessboards 3x4 to 13x13 squares, ChArUco 3x4 to 12x12 in six "
                  "dictionaries, symmetric and asymmetric circle grids",
        {"chessboard": (0.45, _chessboards()), "charuco": (0.30, _charuco_boards()),
         "circles": (0.25, _circle_grids())},
        record_spec="chessboard:10x7"),
}


@dataclass(frozen=True)
class PatternFamily:
    """A family's boards, rendered: `patterns` with the union of masks, `weights` the chance
    of each in a scene (summing to 1)."""

    preset: FamilyPreset
    patterns: tuple[Pattern, ...]
    weights: np.ndarray

    @property
    def name(self) -> str:
        return self.preset.name

    @property
    def spec(self) -> str:
        return self.preset.record_spec

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.preset.kinds

    @property
    def mask_names(self) -> list[str]:
        return self.patterns[0].mask_names

    def covers(self, pattern: Pattern) -> bool:
        """A board of one of the family's kinds (its layout may be any)."""
        return pattern.spec.split(":")[0] in self.preset.groups


def family_names() -> list[str]:
    return list(FAMILIES)


def family_preset(name: str) -> FamilyPreset:
    if name not in FAMILIES:
        raise unknown_name("pattern family", name, FAMILIES)
    return FAMILIES[name]


def family_for_kind(kind: str) -> FamilyPreset | None:
    """The family whose boards include patterns of `kind` (``chessboard``...), if any."""
    return next((f for f in FAMILIES.values() if kind in f.groups), None)


@functools.lru_cache(maxsize=2)
def load_family(name: str) -> PatternFamily:
    """Every member of family `name`, rendered once (cached: the training and validation
    datasets share them)."""
    preset = family_preset(name)
    patterns, weights = [], []
    for share, specs in preset.groups.values():
        for spec in specs:
            patterns.append(load_pattern(spec, FAMILY_DPI))
            weights.append(share / len(specs))
    names = sorted({n for p in patterns for n in p.masks})
    for p in patterns:
        for n in names:
            if n not in p.masks:
                p.masks[n] = np.zeros(p.image.shape[:2], bool)
    w = np.array(weights)
    return PatternFamily(preset, tuple(patterns), w / w.sum())
