"""Training: loop, losses, metrics, checkpoints."""
from .checkpoint import LoadedModel, load_checkpoint, load_model, save_checkpoint

__all__ = ["LoadedModel", "load_checkpoint", "load_model", "save_checkpoint"]
