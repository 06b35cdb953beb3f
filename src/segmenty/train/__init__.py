"""Training: the options (config.py), the loop (loop.py), its data, state, losses and metrics.
Checkpoints and the run folder are segmenty.runs, below both training and prediction."""
from .config import TrainConfig, config_for_resume
from .loop import train
from .losses import LOSSES
from .metrics import mask_metrics

__all__ = ["LOSSES", "TrainConfig", "config_for_resume", "mask_metrics", "train"]
