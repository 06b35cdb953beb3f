"""Prediction on photos: masks, board detection, outline, homography, overlays, ONNX export."""
from .geometry import OutlineFit, fit_outline, homography, rectify
from .onnx import OnnxModel, export_onnx
from .overlay import draw_overlay
from .predictor import DetectionRule, Prediction, Predictor

__all__ = ["DetectionRule", "OnnxModel", "OutlineFit", "Prediction", "Predictor", "draw_overlay",
           "export_onnx", "fit_outline", "homography", "rectify"]
