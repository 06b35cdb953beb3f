"""Showing a run: wild-photo snapshots during training, their animation, the HTML report."""
from .animate import make_animation
from .html import write_report
from .snapshots import save_snapshots, snapshot_dir

__all__ = ["make_animation", "write_report", "save_snapshots", "snapshot_dir"]
