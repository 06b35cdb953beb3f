"""Measuring on real photos: classical auto-labels (`label`) and model scores (`evaluate`)."""
from .evaluate import EvalResult, Score, evaluate, iou
from ..classical import Detector, parse_detector
from .label import LabelResult, label_images

__all__ = ["EvalResult", "Score", "evaluate", "iou", "Detector", "LabelResult", "label_images",
           "parse_detector"]
