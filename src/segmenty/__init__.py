"""segmenty: find a printed pattern in real photos with a network trained on synthetic scenes.

The public API (everything the CLI does goes through these):

    pattern = segmenty.load_pattern("chessboard:10x7")
"""
from .errors import SegmentyError, UsageError
from .patterns import Pattern, load_pattern

__all__ = ["SegmentyError", "UsageError", "Pattern", "load_pattern"]
__version__ = "0.1.0"
