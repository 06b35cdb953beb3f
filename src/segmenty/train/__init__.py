"""Training: loop, losses, metrics, checkpoints."""
from .checkpoint import LoadedModel, load_checkpoint, load_model, save_checkpoint
from .loop import TrainConfig, config_for_resume, train
from .losses import LOSSES
from .metrics import mask_metrics

__all__ = ["LOSSES", "LoadedModel", "TrainConfig", "config_for_resume", "load_checkpoint", "load_model",
           "mask_metrics", "save_checkpoint", "train"]
