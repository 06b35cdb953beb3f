"""Prediction on photos: masks, board detection, outline, homography, ONNX export.
(Drawing a prediction is segmenty.viz.draw_overlay.)"""
from .geometry import OutlineFit, fit_outline, homography, rectify
from .onnx import OnnxModel, export_onnx
from .predictor import DetectionRule, Prediction, Predictor

__all__ = ["DetectionRule", "OnnxModel", "OutlineFit", "Prediction", "Predictor", "export_onnx", "fit_outline",
           "homography", "rectify"]
