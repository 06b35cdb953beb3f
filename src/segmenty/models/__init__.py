"""Segmentation networks: swappable encoder / mix / decoder / head, presets by name."""
from .registry import DEFAULT_MODEL, MODELS, build_model, count_mflops, count_parameters, list_models
from .unet import ModelConfig, SegmentationNet

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelConfig", "SegmentationNet", "build_model",
           "count_mflops", "count_parameters", "list_models"]
