"""Run a trained network on photos of any size and decide whether the board is there.

`Predictor(run_or_model).predict(rgb)` -> `Prediction`: a probability map per mask at the
photo's exact size, plus a verdict (`detected`, `score`), the outline quadrilateral and the
homography pattern sheet -> photo (see geometry.py).

The network runs fully convolutionally at a working resolution: the photo is resized so its
long side is `size` (the training size unless told otherwise, rounded up to the network's
stride) and its short side is padded by reflection up to a multiple of the stride; the padding
is cropped off the output, which is then resized bilinearly to the photo's size.

Why a detection rule and not just "any mask pixel": a weak model fires on trees and other
bounded textured regions. A board is one large, confident, quadrilateral region, so
`detected` requires all three (`DetectionRule`).

Why a second, zoomed-in pass (`refine`): at the working resolution a board a quarter of the
photo wide spans a few dozen network pixels, and its predicted edges and corners are as blurry
as that (benchmarks/README.md: half views, which are zoomed in by construction, scored higher
than the whole photos). So when the first pass finds a board, the photo is cropped to a square
around it, the board filling about 1/`ZOOM_MARGIN` of the side as in the training scenes, and
predicted again; the crop's maps replace the first pass's inside the crop, and the verdict and
geometry are made again from them (a board must pass the rule in both passes).

Why a board must show its parts (`DetectionRule.min_features`): a busy scene can give one
confident, board-shaped `mask` region; it rarely also gives the pattern's point features
(chessboard corners, circles) inside it. Checked only where they are resolved: close up.
"""
from __future__ import annotations

import functools
import math
import os
import time
import warnings
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from pathlib import Path

import cv2
import numpy as np

from ..errors import SegmentyError, UsageError
from ..hardware import check_device_name, cuda_may_be_present, resolve_device
from ..patterns import Pattern, load_pattern
from ..patterns.family import FAMILIES, family_preset
from ..runs import LoadedModel, load_model, resolve_checkpoint
from . import geometry as geo
from .onnx import OnnxModel, onnx_for_checkpoint
from .points import GridLayout, GridPoints, find_grid_points, grid_geometry, grid_layout

# Outline fitting runs on the `mask` map at most this large (long side): enough for sub-pixel
# lines after the network's much coarser working resolution, and bounded cost on 12 MP photos.
ANALYSIS_MAX_SIDE = 1024
# Pattern masks whose blobs are at most this share of the sheet are point features (chessboard
# corners, circles) that can refine the homography.
FEATURE_MAX_AREA = 0.01
# The zoomed-in pass crops a square ZOOM_MARGIN times the board's larger side (training scenes
# show the board at about that scale), and is skipped when that crop would not be at least
# ZOOM_MIN_GAIN times smaller than the photo's long side (too little to gain).
ZOOM_MARGIN = 1.5
ZOOM_MIN_GAIN = 1.25
# A photo in which the first look finds nothing is looked at again at these multiples of the
# working size, as far as its own size allows (the last look at the photo's own resolution):
# a board a tenth of a 1280-px photo spans 16 px at 160 px, too few for its squares, and 64 px
# at 4x (training scenes hold boards of ~30-160); a board of 5-px squares needs every pixel.
FINER_SCALES = (2, 4, 8, 16, 32)
FINER_MIN_GRID_POINTS = 12  # what a grid found only by a finer look must show (DetectionRule's is 6)


@dataclass(frozen=True)
class DetectionRule:
    """When the `mask` region counts as a board (all must hold).

    The defaults were chosen on ../shared/real with a chessboard model (benchmarks/README.md):
    the mean probability separates boards (0.85-0.97, whole or cut by the frame) from busy
    road scenes (0.5-0.77); the quad fill is only a loose shape check, because a board cut
    by the frame and bowed by a wide-angle lens fills its fitted quad by 0.6-0.95.

    min_area:        the largest connected region of probability > threshold covers at least
                     this share of the photo (0.01 = 1%).
    min_confidence:  its mean probability is at least this (a board is predicted confidently;
                     foliage tends to give 0.5-0.8).
    min_fill:        intersection over union of the region with its fitted quadrilateral
                     (clipped to the frame) is at least this: the region is board-shaped.
    suppress:        zero the masks outside the board's region when detected, and everywhere
                     when not, so that a photo without a board gives (almost) empty masks and
                     the masks agree with `detected`. Turn off (and `snap_fill`) to see what
                     the network really outputs (diagnosing false positives).
    min_features:    for a pattern with point features (chessboard corners, circles: at least
                     MIN_PATTERN_FEATURES of them), a board seen at about the training scale
                     (the zoomed-in look, or a board too large to need one) holds at least
                     this many blobs of those masks: a board shows its parts, a textured scene
                     painted as a board rarely does (benchmarks/README.md: road photos taken
                     for a board showed 0-1 corner blobs, boards and half views 2 or more).
    min_grid_points: for a grid pattern (chessboard, ChArUco, circle grid), the points found
                     in the region must form a grid of the pattern with at least this many
                     (points.py); the mask, outline and homography then come from the points.
    snap_fill:       when the pattern's `mask` is a quadrilateral (every built-in pattern's
                     is) and the fitted outline covers the region this well (fill), the `mask`
                     map becomes the outline itself: straight sides and sharp corners where
                     the network rounds corners off and bulges at squares as white as the
                     paper (benchmarks/README.md: +0.02 IoU on real photos). None: never.
    """

    min_area: float = 0.01
    min_confidence: float = 0.8
    min_fill: float = 0.5
    suppress: bool = True
    min_features: int = 2
    min_grid_points: int = 6
    snap_fill: float | None = 0.9


@dataclass
class Prediction:
    """What one photo holds. Outline and homography are None unless `detected`.

    masks:            name -> H×W float32 probability in [0, 1], at the photo's exact size.
    outline:          4×2 float32, the board's corners in photo pixels, clockwise from the
                      top-left (may lie outside the photo when the board is cut by the frame).
    homography:       3×3 float64 mapping pattern sheet pixels to photo pixels.
    detected:         the `mask` region passed the DetectionRule.
    score:            confidence in [0, 1]: mean_confidence × fill × min(1, area / min_area).
    area_fraction:    the largest `mask` region's share of the photo.
    mean_confidence:  mean probability inside that region.
    fill:             IoU of that region with its fitted quadrilateral (clipped to the frame).
    ms:               wall time for this photo (pre-processing, network, geometry; the mean
                      over the photos of one `predict_batch` call).
    points:           for a grid pattern, the board's points with their identities (GridPoints:
                      sub-pixel positions, (column, row) ids, confidences); `mask`, outline and
                      homography are then derived from them. None otherwise.
    """

    masks: dict[str, np.ndarray]
    outline: np.ndarray | None
    homography: np.ndarray | None
    detected: bool
    score: float
    area_fraction: float = 0.0
    mean_confidence: float = 0.0
    fill: float = 0.0
    ms: float = 0.0
    points: GridPoints | None = None

    def __post_init__(self) -> None:
        if self.points is not None and not isinstance(self.points, GridPoints):
            raise TypeError(f"Prediction.points must be GridPoints or None, not {type(self.points).__name__}")

    def summary(self) -> dict:
        """Everything but the masks, as plain JSON-able values."""
        return {
            "detected": self.detected, "score": round(self.score, 4),
            "area_fraction": round(self.area_fraction, 5),
            "mean_confidence": round(self.mean_confidence, 4), "fill": round(self.fill, 4),
            "outline": None if self.outline is None else np.round(self.outline, 2).tolist(),
            "homography": None if self.homography is None else self.homography.tolist(),
            "ms": round(self.ms, 2),
            "points": None if self.points is None else self.points.summary(),
        }


@dataclass
class _Judgement:
    """A photo's verdict (Predictor._judge) and what its Prediction is finished from."""

    probs: np.ndarray                    # the first pass's working-resolution maps
    zoom: tuple | None                   # (box, crop maps) of the zoomed-in pass, if any
    analysis: list[np.ndarray]           # the maps at the geometry's resolution
    to_photo: tuple[float, float]        # analysis pixels -> photo pixels
    working: int = 0                     # the long side `probs` were predicted at
    component: np.ndarray | None = None  # the largest region of `mask`
    fit: geo.OutlineFit | None = None
    detected: bool = False
    stats: tuple = (0.0,)                # score, area_fraction, mean_confidence, fill
    outline: np.ndarray | None = None    # photo pixels, oriented to the pattern (when detected)
    zoom_box: tuple | None = None        # where a first look wants a closer one (zoom_box)


@runtime_checkable
class Backend(Protocol):
    """What a Predictor needs of a network: probabilities for a batch, what its channels are,
    the board it was trained for, its training size and the multiple its input must be."""

    mask_names: list[str]
    pattern_spec: str
    size: int
    stride: int

    def run(self, batch: np.ndarray) -> np.ndarray:
        """N×3×H×W float32 in [0, 1] -> N×M×H×W probabilities."""


class _TorchModel:
    """A LoadedModel behind the same small interface as OnnxModel (probabilities out)."""

    def __init__(self, loaded: LoadedModel, device):
        self.loaded = loaded
        self.device = device
        self.mask_names, self.pattern_spec = loaded.mask_names, loaded.pattern_spec
        self.size, self.stride, self.model_name = loaded.size, loaded.stride, loaded.model_name
        self.family: str | None = loaded.config.get("family")

    def run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        model = self.loaded.model
        was_training = model.training  # the training loop may hand in its live model
        model.eval()
        try:
            with torch.inference_mode():
                x = torch.from_numpy(batch).to(self.device)
                return torch.sigmoid(model(x)).float().cpu().numpy()
        finally:
            model.train(was_training)


@dataclass(frozen=True)
class _PatternGeometry:
    pattern: Pattern
    features: np.ndarray     # N×2 centres of the point features (corners, circles) in sheet px
    feature_masks: tuple     # names of the masks those features come from
    quadrilateral: bool      # the `mask` is its outline quad (so a detected mask can snap to it)


# A pattern's `mask` counts as quadrilateral when its IoU with its outline quad is this high.
QUADRILATERAL_FILL = 0.98
# DetectionRule.min_features applies to patterns with at least this many point features (a
# grid of them; the `segmenty` pattern's single centre mark would veto every view without it).
MIN_PATTERN_FEATURES = 8


@functools.lru_cache(maxsize=8)
def _pattern_geometry(spec: str) -> _PatternGeometry | None:
    """The pattern (for its outline and sheet size) and its point features, built once."""
    try:
        pattern = load_pattern(spec)
    except SegmentyError as exc:
        warnings.warn(f"pattern '{spec}' of the model cannot be built ({exc}); "
                      "predicting masks without outline homography")
        return None
    sheet_area = pattern.image.shape[0] * pattern.image.shape[1]
    features = {name: geo.blob_centres(m, FEATURE_MAX_AREA * sheet_area)
                for name, m in pattern.masks.items() if name != "mask"}
    features = {name: f for name, f in features.items() if len(f)}
    quadrilateral = geo.quad_iou(pattern.masks["mask"], pattern.outline) >= QUADRILATERAL_FILL
    return _PatternGeometry(pattern, np.concatenate(list(features.values())) if features else np.zeros((0, 2)),
                            tuple(features), quadrilateral)


class Predictor:
    """A trained model ready to predict photos.

    run_or_model: a run folder, a .pt checkpoint, a .onnx file from `segmenty export` (run by
                  onnxruntime on the CPU), an already loaded LoadedModel (used where it is), or
                  any `Backend` (an OnnxModel with its own thread count, a stand-in network).
    device:       'auto', 'cpu', 'cuda', 'cuda:N' (PyTorch models only).
    size:         working resolution, the long side in pixels (default: the training size),
                  rounded up to a multiple of the network's stride.
    threshold:    probability above which a pixel belongs to a mask region.
    rule:         the DetectionRule.
    refine:       predict a detected board again in a crop around it (see the module doc).
    multiscale:   look again at finer scales (FINER_SCALES) when the first look finds nothing
                  in a photo large enough for them: boards small in the photo.
    points:       for grid patterns, find the board's points with their identities and derive
                  its mask, outline and homography from them (points.py; False: the shape of
                  the `mask` region alone, as for other patterns).
    backend:      for a run folder or .pt file: 'auto' (onnxruntime on the CPU, where it is
                  installed: the checkpoint exported once to <checkpoint>.onnx beside it, ~2x
                  faster than PyTorch and no torch import on later runs; PyTorch on a GPU),
                  'onnx' or 'torch'.
    pattern:      the board to look for, as a spec (default: the one the model was trained
                  for). A family detector (``segmenty train --family``) takes any board of its
                  kinds, a single-pattern detector any layout of its own kind: the network
                  does not care about the size, the layout gives the points' identities.
    """

    @classmethod
    def open(cls, model: str | os.PathLike, pattern: str | None = None, **options) -> "Predictor":
        """The Predictor that RUN_OR_PATTERN names: a run folder, checkpoint or .onnx file
        (looking for `pattern`, or the model's own board); or, where no such file exists, a
        built-in board's spec, found by the detector shipped for its family (`for_pattern`)."""
        from ..patterns import PATTERN_KINDS

        if not Path(model).exists() and str(model).split(":")[0] in PATTERN_KINDS:
            return cls.for_pattern(pattern or str(model), **options)
        return cls(model, pattern=pattern, **options)

    @classmethod
    def for_pattern(cls, spec: str, **options) -> "Predictor":
        """A Predictor for a built-in board (``chessboard:8x6``, ``charuco:5x7``,
        ``circles:4x11:asym``) from the detector shipped for its family: no run folder, no
        training. On a GPU (device 'cuda' or 'auto' with one) PyTorch runs its weights,
        elsewhere onnxruntime its ONNX file."""
        from ..runs import SHIPPED_CHECKPOINT, SHIPPED_ONNX, detector_folder, shipped_kinds

        folder = detector_folder(spec) if ":" in spec or spec not in FAMILIES else None
        if folder is None:
            kinds = ", ".join(shipped_kinds()) or "none in this installation"
            raise UsageError(f"no shipped detector finds '{spec}' (shipped: {kinds}); train one with: "
                             f"segmenty train --pattern {spec}")
        device = options.get("device", "auto")
        check_device_name(device)
        on_gpu = device.startswith("cuda") or (device == "auto" and cuda_may_be_present())
        return cls(folder / (SHIPPED_CHECKPOINT if on_gpu else SHIPPED_ONNX), pattern=spec,
                   **{"backend": "torch" if on_gpu else "auto", **options})

    def __init__(self, run_or_model: str | os.PathLike | LoadedModel | OnnxModel, device: str = "auto",
                 size: int | None = None, threshold: float = 0.5, rule: DetectionRule | None = None,
                 refine: bool = True, multiscale: bool = True, points: bool = True, backend: str = "auto",
                 pattern: str | None = None):
        if backend not in ("auto", "onnx", "torch"):
            raise UsageError(f"--backend {backend}: expected auto, onnx or torch")
        if isinstance(run_or_model, Backend):  # an OnnxModel, or any network (a test's stand-in)
            self.backend = run_or_model
        elif isinstance(run_or_model, LoadedModel):
            self.backend = _TorchModel(run_or_model, _model_device(run_or_model))
        elif Path(run_or_model).suffix.lower() == ".onnx":
            self.backend = OnnxModel(run_or_model)
        else:
            self.backend = None
            check_device_name(device)
            on_cpu = device == "cpu" or (device == "auto" and not cuda_may_be_present())
            if backend == "onnx" or (backend == "auto" and on_cpu):
                self.backend = onnx_for_checkpoint(resolve_checkpoint(run_or_model))
                if self.backend is None and backend == "onnx":
                    raise UsageError("--backend onnx needs onnx and onnxruntime: pip install 'onnx>=1.15' "
                                     "'onnxruntime>=1.17'")
            if self.backend is None:
                d = resolve_device(device)
                self.backend = _TorchModel(load_model(run_or_model, d), d)
        if size is not None and (not isinstance(size, (int, np.integer)) or size <= 0):
            raise UsageError(f"--size {size}: must be a positive whole number of pixels")
        if not 0 < threshold < 1:
            raise UsageError(f"--threshold {threshold}: must be between 0 and 1 (exclusive)")
        stride = self.backend.stride
        self.size = -(-int(size or self.backend.size) // stride) * stride
        self.threshold = float(threshold)
        self.rule = rule or DetectionRule()
        self.refine = bool(refine)
        self.multiscale = bool(multiscale)
        self.points = bool(points)
        self.mask_names: list[str] = list(self.backend.mask_names)
        self._board = self._board_spec(pattern) if pattern else None

    @property
    def pattern_spec(self) -> str:
        """The board looked for: the one given, else the model's own ('' when unknown)."""
        return self._board or self.backend.pattern_spec

    def _board_spec(self, spec: str) -> str:
        """The canonical spec of the board `spec`, checked against what the network finds."""
        board = load_pattern(spec)
        kind = board.spec.split(":")[0]
        family = getattr(self.backend, "family", None)
        if family:
            kinds = family_preset(family).kinds
            if kind not in kinds:
                raise UsageError(f"pattern '{spec}': the '{family}' detector finds {', '.join(kinds)} boards, "
                                 f"not {kind}")
        else:
            trained = self.backend.pattern_spec.split(":")[0] if self.backend.pattern_spec else ""
            if kind != trained or not set(board.mask_names) <= set(self.mask_names):
                raise UsageError(f"pattern '{spec}': the model was trained for '{self.backend.pattern_spec}', "
                                 f"another kind of pattern (train one with: segmenty train --pattern {board.spec})")
        return board.spec

    @property
    def options(self) -> dict:
        """The keyword arguments that build this Predictor again on the same model (a worker's)."""
        return {"size": self.size, "threshold": self.threshold, "rule": self.rule, "refine": self.refine,
                "multiscale": self.multiscale, "points": self.points, "pattern": self.pattern_spec}

    @property
    def pattern(self) -> Pattern | None:
        geometry = self._geometry()
        return geometry.pattern if geometry else None

    def predict(self, rgb: np.ndarray) -> Prediction:
        """Masks, verdict and geometry for one RGB uint8 H×W×3 photo."""
        return self.predict_batch([rgb])[0]

    def predict_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        """Like `predict` for several photos; those with the same working shape share one
        network call (the results equal one-by-one prediction)."""
        start = time.perf_counter()
        probs = self._run(images)
        results = self._conclude(images, probs, [self._judge(p, rgb.shape[:2]) for rgb, p in zip(images, probs)])
        looked = [self.size] * len(images)
        for scale in FINER_SCALES if self.multiscale else ():
            # Boards too small to resolve at the working size: the photos still without one
            # (nothing found, or a region that proved no board), again at a finer scale, never
            # beyond their own resolution (fully convolutional: the whole photo, no tiles).
            again: dict[int, list[int]] = {}
            for i, r in enumerate(results):
                own = -(-max(images[i].shape[:2]) // self.backend.stride) * self.backend.stride
                working = min(scale * self.size, own)
                if not r.detected and working > looked[i]:
                    again.setdefault(working, []).append(i)
            for working, indices in again.items():
                for i, p in zip(indices, self._run([images[i] for i in indices], working)):
                    looked[i] = working
                    finer = self._judge(p, images[i].shape[:2], working=working)
                    if finer.detected:
                        found = self._conclude([images[i]], [p], [finer])[0]
                        # A board only a finer look resolves is far away, so seen whole: it
                        # must show more of its grid than a close, cut one (a tree crown
                        # against the sky lined up 8 peaks at a photo's own resolution).
                        if found.detected and (found.points is None
                                               or len(found.points) >= FINER_MIN_GRID_POINTS):
                            results[i] = found
        ms = (time.perf_counter() - start) * 1000 / max(1, len(images))
        for r in results:
            r.ms = ms
        return results

    def rectify(self, rgb: np.ndarray, prediction: Prediction) -> np.ndarray | None:
        """The photo warped to the pattern sheet (front-on view), or None without a homography."""
        pattern = self.pattern
        if prediction.homography is None or pattern is None:
            return None
        h, w = pattern.image.shape[:2]
        return geo.rectify(rgb, prediction.homography, (w, h))

    # -- internals -------------------------------------------------------------------------

    def _conclude(self, images: list[np.ndarray], probs: list[np.ndarray], judged: list) -> list[Prediction]:
        """Predictions from one look's verdicts: a detected board seen again close up (`refine`:
        it must pass the rule both times, the second verdict stands), then its geometry and,
        for grid patterns, its points (which may still say it is no board)."""
        if self.refine:
            boxes = {i: j.zoom_box for i, j in enumerate(judged) if j.detected and j.zoom_box is not None}
            crops = self._run([images[i][y0:y1, x0:x1] for i, (x0, y0, x1, y1) in boxes.items()])
            for (i, box), crop in zip(boxes.items(), crops):
                judged[i] = self._judge(probs[i], images[i].shape[:2], (box, crop), judged[i].working)
        results = [self._finish(j, rgb.shape[:2]) for rgb, j in zip(images, judged)]
        if self.points:
            results = [self._with_points(r, rgb, j) for r, rgb, j in zip(results, images, judged)]
        return results

    def _run(self, images: list[np.ndarray], size: int | None = None) -> list[np.ndarray]:
        """The network's M×h×w probabilities for each photo at working resolution (long side
        `size`, default the predictor's; padding cropped off); photos of the same working shape
        share one call."""
        prepared = [self._prepare(rgb, size or self.size) for rgb in images]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (x, _) in enumerate(prepared):
            groups.setdefault(x.shape[1:], []).append(i)
        probs: list[np.ndarray] = [np.empty(0)] * len(images)
        for indices in groups.values():
            out = self.backend.run(np.stack([prepared[i][0] for i in indices]))
            for i, p in zip(indices, out):
                h, w = prepared[i][1]
                probs[i] = p[:, :h, :w]
        return probs

    def _prepare(self, rgb: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int]]:
        """Resize (long side = size), pad to the stride -> 3×H'×W' float32, and the unpadded size."""
        if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
            raise ValueError("Predictor expects an RGB uint8 H×W×3 array (use segmenty.io.read_image)")
        h, w = rgb.shape[:2]
        scale = size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        # INTER_AREA averages when shrinking (no aliasing on fine checkers); linear when growing.
        resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        stride = self.backend.stride
        ph, pw = -nh % stride, -nw % stride
        if ph or pw:
            # Reflection keeps image statistics at the border (the network never saw a flat
            # band in training); a pad wider than the image can only be replicated.
            border = cv2.BORDER_REFLECT_101 if ph < nh and pw < nw else cv2.BORDER_REPLICATE
            resized = cv2.copyMakeBorder(resized, 0, ph, 0, pw, border)
        x = resized.transpose(2, 0, 1).astype(np.float32) / 255.0
        return x, (nh, nw)

    def _judge(self, probs: np.ndarray, shape: tuple[int, int], zoom: tuple | None = None,
               working: int | None = None) -> _Judgement:
        """The verdict on working-resolution probabilities M×h×w for a photo of `shape`, made on
        maps at the geometry's resolution (the photo's, capped at ANALYSIS_MAX_SIDE).

        zoom: (box, crop probabilities) of the zoomed-in pass, which replace `probs` inside the
        box and hold the board (a region outside the box is not a candidate then)."""
        h, w = shape
        k = min(1.0, ANALYSIS_MAX_SIDE / max(h, w))
        analysis = _compose_maps(probs, zoom, (max(1, round(w * k)), max(1, round(h * k))), (w, h))
        ah, aw = analysis[0].shape
        judged = _Judgement(probs, zoom, analysis, (w / aw, h / ah), working or self.size)
        board = analysis[0]
        binary = board > self.threshold
        if zoom is not None:
            x0, y0, x1, y1 = _box_at(zoom[0], (aw, ah), (w, h))
            inside = np.zeros_like(binary)
            inside[y0:y1, x0:x1] = True
            binary &= inside
        judged.component = geo.largest_component(binary)
        if judged.component is None:
            return judged
        area = float(np.count_nonzero(judged.component)) / judged.component.size
        # The rule's area is a share of the frame the network sees at the working size: a
        # board found at a finer scale is judged at that scale (a tenth of the photo's width
        # is 1% of it at 1x, 16% at 4x).
        seen_area = area * (judged.working / self.size) ** 2
        confidence = float(board[judged.component].mean())
        geometry = self._geometry()
        judged.fit = fit = geo.fit_outline(judged.component,
                                           geo.outline_aspect(geometry.pattern.outline) if geometry else None)
        fill = fit.fill if fit else 0.0
        rule = self.rule
        judged.detected = bool(fit is not None and seen_area >= rule.min_area and confidence >= rule.min_confidence
                               and fill >= rule.min_fill)
        judged.stats = (float(confidence * fill * min(1.0, seen_area / rule.min_area)), area, confidence, fill)
        if judged.detected:
            outline = _scale_points(fit.quad, judged.to_photo)
            judged.outline = geo.orient_to_pattern(outline, geometry.pattern.outline) if geometry else outline
            judged.zoom_box = None if zoom is not None else zoom_box(judged.outline, shape)
            # The pattern's parts are only resolved at about the training scale: seen close up,
            # or a board large enough that it needs no closer look.
            if judged.zoom_box is None and not self._shows_features(judged):
                judged.detected, judged.outline = False, None
        return judged

    def _shows_features(self, judged: _Judgement) -> bool:
        """The judged region holds at least `min_features` blobs of the pattern's
        point-feature masks (always true for patterns without a grid of features)."""
        geometry = self._geometry()
        if geometry is None or len(geometry.features) < MIN_PATTERN_FEATURES or self.rule.min_features <= 0:
            return True
        found = 0
        for name in geometry.feature_masks:
            if name in self.mask_names:
                binary = (judged.analysis[self.mask_names.index(name)] > self.threshold) & judged.component
                found += len(geo.blob_centres(binary))
        return found >= self.rule.min_features

    def _finish(self, judged: _Judgement, shape: tuple[int, int]) -> Prediction:
        """The Prediction of a judged photo: masks at the photo's size, homography, snapping
        and suppression."""
        h, w = shape
        analysis = judged.analysis
        full = analysis if analysis[0].shape == (h, w) else _compose_maps(judged.probs, judged.zoom, (w, h), (w, h))
        masks = dict(zip(self.mask_names, full))
        result = Prediction(masks, None, None, judged.detected, *judged.stats)
        if not judged.detected:
            return self._suppress(result, None)
        geometry = self._geometry()
        outline = judged.outline
        if geometry and not self._points_replace_geometry():
            # (where the points give the geometry, their homography replaces this one: not made)
            result.homography = self._homography(geometry.pattern, geometry.features, outline, analysis,
                                                  judged.to_photo)
        result.outline = outline.astype(np.float32)
        snap = self.rule.snap_fill
        if geometry and geometry.quadrilateral and snap is not None and judged.fit.fill >= snap:
            masks["mask"] = geo.quad_coverage(result.outline, (h, w))
        return self._suppress(result, (judged.component, judged.fit), judged.working)

    def _points_replace_geometry(self) -> bool:
        """A detected board's outline and homography will come from its points (`_with_points`:
        or it is not a board), so the mask shape's are not needed."""
        layout = _grid_layout(self.pattern_spec) if self.points and self.pattern_spec else None
        return layout is not None and layout.feature_mask in self.mask_names

    def _geometry(self) -> _PatternGeometry | None:
        return _pattern_geometry(self.pattern_spec) if self.pattern_spec else None

    def _with_points(self, result: Prediction, rgb: np.ndarray, judged: _Judgement) -> Prediction:
        """A detected grid pattern's points (points.py), and its mask, outline and homography
        from them; a region whose points form no grid of the pattern is not a board."""
        layout = _grid_layout(self.pattern_spec) if self.pattern_spec else None
        if layout is None or not result.detected or layout.feature_mask not in result.masks:
            return result
        h, w = rgb.shape[:2]
        reach = max(3, round(0.01 * max(h, w)))  # the mask's edge may cut the outermost blobs
        region = cv2.dilate((result.masks["mask"] > self.threshold).astype(np.uint8),
                            np.ones((2 * reach + 1,) * 2, np.uint8)).astype(bool)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        found = find_grid_points(gray, result.masks[layout.feature_mask], layout, region)
        if found is None or len(found) < self.rule.min_grid_points:
            result.detected, result.outline, result.homography = False, None, None
            return self._suppress(result, None)
        result.points = found
        # The network's own `mask` (not snapped to an outline) says where a partial view's
        # board goes on beyond its points.
        support = judged.analysis[0]
        if support.shape != (h, w):
            support = cv2.resize(support, (w, h), interpolation=cv2.INTER_LINEAR)
        result.masks["mask"], result.outline, result.homography = grid_geometry(
            found, layout, (h, w), support, gray)
        return result

    def _homography(self, pattern: Pattern, features: np.ndarray, outline: np.ndarray,
                    analysis: list[np.ndarray], to_photo: tuple[float, float]) -> np.ndarray:
        """From the outline, refined with the other masks' blobs where the pattern has points."""
        hom = geo.homography(pattern.outline, outline)
        if len(features) and len(analysis) > 1:
            blobs = np.concatenate([geo.blob_centres(m > self.threshold) for m in analysis[1:]])
            if len(blobs):
                refined = geo.refine_homography(hom, features, _scale_points(blobs, to_photo))
                # Trust the features to correct the outline, not to replace it: a refinement
                # that moves a corner by over a quarter of the board matched the wrong blobs.
                moved = np.abs(geo.project(refined, pattern.outline) - outline).max()
                if moved < 0.25 * np.sqrt(abs(cv2.contourArea(outline.astype(np.float32)))):
                    hom = refined
        return hom

    def _suppress(self, result: Prediction, board: tuple | None, working: int = 0) -> Prediction:
        """Zero the masks outside the board's region (everywhere when there is no board)."""
        if not self.rule.suppress:
            return result
        if board is None:
            for m in result.masks.values():
                m[:] = 0.0
            return result
        component, fit = board
        support = geo.fill_quad(component.astype(np.uint8), fit.quad)
        # Keep the soft edge the bilinear upsampling spreads over about two working pixels.
        h, w = next(iter(result.masks.values())).shape
        radius = math.ceil(2 * max(h, w) / (working or self.size) * support.shape[1] / w) + 1
        support = cv2.dilate(support, np.ones((2 * radius + 1,) * 2, np.uint8))  # square: separable, fast
        if support.shape != (h, w):
            support = cv2.resize(support, (w, h), interpolation=cv2.INTER_NEAREST)
        keep = support.astype(bool)
        for m in result.masks.values():
            m[~keep] = 0.0
        return result


@functools.lru_cache(maxsize=8)
def _grid_layout(spec: str) -> GridLayout | None:
    """The pattern's grid of points (None for patterns without one), built once."""
    geometry = _pattern_geometry(spec)
    return grid_layout(geometry.pattern) if geometry else None


def _model_device(loaded: LoadedModel):
    try:
        return next(loaded.model.parameters()).device
    except StopIteration:
        return resolve_device("cpu")


def zoom_box(outline: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The photo crop (x0, y0, x1, y1) for a zoomed-in look at a board with this outline: a
    square ZOOM_MARGIN times the board's larger side, centred on the board and shifted (or
    clipped) to stay inside the photo. None when it would not be ZOOM_MIN_GAIN times smaller
    than the photo's long side."""
    h, w = shape
    inside = np.clip(outline, -0.5, [w - 0.5, h - 0.5])  # a board cut by the frame: its visible part
    (lx, ly), (hx, hy) = inside.min(axis=0), inside.max(axis=0)
    side = ZOOM_MARGIN * max(hx - lx, hy - ly, 1.0)
    if side * ZOOM_MIN_GAIN > max(h, w):
        return None
    box = []
    for low, high, limit in ((lx, hx, w), (ly, hy, h)):
        extent = min(side, limit)
        # In pixel-edge coordinates (pixel i spans i .. i+1), as slices count.
        start = min(max((low + high + 1) / 2 - extent / 2, 0.0), limit - extent)
        box.append((int(round(start)), int(round(start + extent))))
    (x0, x1), (y0, y1) = box
    return (x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


def _compose_maps(probs: np.ndarray, zoom: tuple | None, size: tuple[int, int],
                  photo_size: tuple[int, int]) -> list[np.ndarray]:
    """The first pass's maps resized to `size` (W, H), a resizing of the photo's `photo_size`
    (W, H); with `zoom`, the zoomed-in pass's maps resized into their box (photo pixels)."""
    maps = _resize_maps(probs, size)
    if zoom is None:
        return maps
    box, crop = zoom
    bx0, by0, bx1, by1 = _box_at(box, size, photo_size)
    if bx1 > bx0 and by1 > by0:
        for m, c in zip(maps, _resize_maps(crop, (bx1 - bx0, by1 - by0))):
            m[by0:by1, bx0:bx1] = c
    return maps


def _box_at(box: tuple[int, int, int, int], size: tuple[int, int], photo_size: tuple[int, int]) -> tuple[int, ...]:
    """A photo box (x0, y0, x1, y1; end exclusive) in a resizing of the photo to `size` (W, H)."""
    kx, ky = size[0] / photo_size[0], size[1] / photo_size[1]
    x0, y0, x1, y1 = box
    return round(x0 * kx), round(y0 * ky), round(x1 * kx), round(y1 * ky)


def _resize_maps(probs: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    """M×h×w -> M maps of H×W float32 in [0, 1] (bilinear; `size` = (W, H)).

    One map at a time: each result is contiguous, with no H×W×M transpose to copy."""
    probs = np.clip(probs, 0.0, 1.0)  # bilinear weights are convex: the output stays in range
    if probs.shape[:0:-1] == size:
        return [np.array(p, np.float32) for p in probs]
    return [cv2.resize(p.astype(np.float32, copy=False), size, interpolation=cv2.INTER_LINEAR) for p in probs]


def _scale_points(points: np.ndarray, factor: tuple[float, float]) -> np.ndarray:
    """Pixel coordinates from one resolution to another (pixel centres at integers)."""
    return (np.asarray(points, np.float64) + 0.5) * np.array(factor) - 0.5

