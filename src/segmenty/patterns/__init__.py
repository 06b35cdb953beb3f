"""The pattern library: built-in patterns by spec string, user patterns from folders."""
from .base import OUTLINE_KEYPOINTS, PATTERN_KINDS, Pattern, register_pattern
from .load import load_pattern
from . import segmenty, chessboard, charuco, circles  # noqa: F401,E402  (register builders)

__all__ = ["Pattern", "load_pattern", "register_pattern", "PATTERN_KINDS", "OUTLINE_KEYPOINTS"]
