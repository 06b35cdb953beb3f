"""Prediction on photos: masks, board detection, grid points with identities, outline, homography,
overlays, ONNX export."""
from .geometry import OutlineFit, fit_outline, homography, rectify
from .onnx import OnnxModel, export_onnx
from .overlay import draw_overlay
from .points import GridLayout, GridPoints, find_grid_points, grid_geometry, grid_layout
from .predictor import DetectionRule, Prediction, Predictor

__all__ = ["DetectionRule", "GridLayout", "GridPoints", "OnnxModel", "OutlineFit", "Prediction", "Predictor",
           "draw_overlay", "export_onnx", "find_grid_points", "fit_outline", "grid_geometry", "grid_layout",
           "homography", "rectify"]
