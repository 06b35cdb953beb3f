"""Measuring on real photos: classical auto-labels (`label`) and model scores (`evaluate`)."""
from .evaluate import EvalResult, Score, evaluate, iou
from .label import Detector, LabelResult, label_images, parse_detector

__all__ = ["EvalResult", "Score", "evaluate", "iou", "Detector", "LabelResult", "label_images",
           "parse_detector"]
