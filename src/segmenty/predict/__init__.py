"""Prediction on photos: masks, board detection, grid points with identities, outline, homography,
ONNX export. (Drawing a prediction is segmenty.viz.draw_overlay.)"""
from .geometry import OutlineFit, fit_outline, homography, rectify
from .onnx import OnnxModel, export_onnx
from .points import GridLayout, GridPoints, find_grid_points, grid_geometry, grid_layout
from .backend import Backend
from .prediction import Prediction
from .predictor import Predictor
from .verdict import DetectionRule, Verdict
from .stream import predict_stream
from .track import Tracker

__all__ = ["Backend", "DetectionRule", "GridLayout", "GridPoints", "OnnxModel", "OutlineFit", "Prediction", "Predictor",
           "Tracker", "Verdict", "export_onnx", "predict_stream", "find_grid_points", "fit_outline", "grid_geometry", "grid_layout", "homography", "rectify"]
