"""Camera calibration from a grid pattern's points (`segmenty calibrate`).

    from segmenty.calib import run_calibration
    report = run_calibration(["photos/"], layout, predictor, "out/")   # camera.json, pictures
    print(report.table())                                             # segmenty beside OpenCV
    stereo = run_stereo(["left/"], ["right/"], layout, predictor, "rig/")  # stereo.json, left/, right/

Stage order: calib sits on predict (and eval's classical detectors for the side-by-side); it
never imports train: `segmenty calibrate` trains a detector from the CLI layer when asked.
"""
from .camera import CAMERA_MODELS, Calibration, calibrate_views, coverage, write_camera, write_points
from .job import CalibrationReport, load_camera, run_calibration
from .stereo import StereoCalibration, calibrate_stereo
from .stereo_job import StereoReport, run_stereo
from .views import View, detect_views, iter_frames, opencv_points, opencv_views, view_from_points

__all__ = ["CAMERA_MODELS", "Calibration", "CalibrationReport", "View", "calibrate_views", "coverage",
           "detect_views", "iter_frames", "load_camera", "opencv_points", "opencv_views", "run_calibration",
           "view_from_points", "write_camera", "write_points", "StereoCalibration", "StereoReport",
           "calibrate_stereo", "run_stereo"]
