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

The pipeline, each step a function of typed values, each computed once (`_conclude`):
looks (`Look`: the network's maps at a working size) -> a verdict (`verdict.Judge` ->
frozen `Verdict`; a detected board's closer look judged again and standing) -> one geometry:
from the grid's points for a grid pattern (`points.find_grid_points`, `grid_geometry`; no
points, no board), else from the `mask` region's shape (outline, homography refined by the
pattern's features, the mask snapped to the outline) -> suppression outside the board. The
network behind it is a `Backend` (backend.py), handed in or opened from a run.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import cv2
import numpy as np

from ..errors import UsageError
from ..hardware import check_device_name, cuda_may_be_present
from ..patterns import Pattern, load_pattern
from ..patterns.family import FAMILIES, family_preset
from ..runs import LoadedModel, names_pattern_folder
from ..scores import MASK_THRESHOLD
from . import geometry as geo
from .backend import Backend, open_backend
from .onnx import OnnxModel
from .points import find_grid_points, grid_geometry
from .prediction import Prediction
from .verdict import (BoardKnowledge, DetectionRule, Judge, Look, Verdict, board_knowledge, compose_maps,
                      scale_points)

# A photo in which the first look finds nothing is looked at again at these multiples of the
# working size, as far as its own size allows (the last look at the photo's own resolution):
# a board a tenth of a 1280-px photo spans 16 px at 160 px, too few for its squares, and 64 px
# at 4x (training scenes hold boards of ~30-160); a board of 5-px squares needs every pixel.
FINER_SCALES = (2, 4, 8, 16, 32)


def check_rgb(rgb) -> None:
    """ValueError unless `rgb` is what every prediction takes: an RGB uint8 H×W×3 array."""
    if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
        raise ValueError("Predictor expects an RGB uint8 H×W×3 array (use segmenty.io.read_image)")


class Predictor:
    """A trained model ready to predict photos.

    run_or_model: a run folder, a .pt checkpoint, a .onnx file from `segmenty export` (run by
                  onnxruntime on the CPU), an already loaded LoadedModel (used where it is), or
                  any `Backend` (an OnnxModel with its own thread count, a stand-in network).
    device:       'auto', 'cpu', 'cuda', 'cuda:N' (PyTorch models only: an .onnx file or
                  backend 'onnx' refuses a GPU rather than ignore it).
    size:         working resolution, the long side in pixels (default: the training size),
                  rounded up to a multiple of the network's stride.
    threshold:    probability above which a pixel belongs to a mask region.
    rule:         the DetectionRule.
    refine:       predict a detected board again in a crop around it (see the module doc).
    multiscale:   look again at finer scales (FINER_SCALES) when the first look finds nothing
                  in a photo large enough for them: boards small in the photo.
    points:       for grid patterns, find the board's points with their identities and derive
                  its mask, outline and homography from them (points/; False: the shape of
                  the `mask` region alone, as for other patterns).
    backend:      for a run folder or .pt file: 'auto' (onnxruntime on the CPU where the
                  checkpoint's own export is beside it, written when training ends: ~2x
                  faster than PyTorch, no torch import; its int8 copy where that is there
                  too; else PyTorch), 'onnx' (the float export, made now if missing) or
                  'torch' (backend.py). For a board's spec (`open`,
                  `for_pattern`): 'auto' the shipped int8 copy on the CPU, 'onnx' its float
                  model, 'torch' its PyTorch weights.
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
        from ..patterns.load import looks_like_path, pattern_kind

        text = str(model)
        if not Path(text).exists() and (text in PATTERN_KINDS or ":" in text and not looks_like_path(text)):
            # NAME:FIELDS is a spec: an unknown NAME is an unknown pattern, not a missing file
            pattern_kind(text)
            return cls.for_pattern(pattern or text, **options)
        return cls(model, pattern=pattern, **options)

    @classmethod
    def for_pattern(cls, spec: str, **options) -> "Predictor":
        """A Predictor for a built-in board (``chessboard:8x6``, ``charuco:5x7``,
        ``circles:4x11:asym``) from the detector shipped for its family: no run folder, no
        training. On a GPU (device 'cuda' or 'auto' with one) PyTorch runs its weights;
        elsewhere onnxruntime its int8 copy where it ships (backend 'auto': its network
        1.5-2x faster, the same decisions on the real sets; benchmarks/README.md), or its float
        ONNX file (backend 'onnx', on the CPU; or where no int8 copy ships)."""
        from ..patterns.load import looks_like_path, pattern_kind
        from ..runs import SHIPPED_CHECKPOINT, SHIPPED_INT8, SHIPPED_ONNX, detector_folder, shipped_kinds

        if spec not in FAMILIES and not looks_like_path(spec):
            pattern_kind(spec)  # a mistyped kind or folder is named so, not as one nothing ships for
        folder = detector_folder(spec) if ":" in spec or spec not in FAMILIES else None
        if folder is None:
            kinds = ", ".join(shipped_kinds()) or "none in this installation"
            raise UsageError(f"no shipped detector finds '{spec}' (shipped: {kinds}); train one with: "
                             f"segmenty train --pattern {spec}")
        device = options.get("device", "auto")
        check_device_name(device)
        on_gpu = device.startswith("cuda") or (device == "auto" and cuda_may_be_present())
        backend = options.get("backend", "auto")
        if backend == "torch" or (backend == "auto" and on_gpu):
            model = folder / SHIPPED_CHECKPOINT
        elif backend == "auto" and (folder / SHIPPED_INT8).is_file():
            model = folder / SHIPPED_INT8
        else:  # 'onnx' (on a GPU device refused by the ONNX backend, not swapped for PyTorch)
            model = folder / SHIPPED_ONNX
        return cls(model, pattern=spec, **{"backend": "torch" if model.suffix == ".pt" else "auto", **options})

    def __init__(self, run_or_model: str | os.PathLike | LoadedModel | OnnxModel | Backend, device: str = "auto",
                 size: int | None = None, threshold: float = MASK_THRESHOLD, rule: DetectionRule | None = None,
                 refine: bool = True, multiscale: bool = True, points: bool = True, backend: str = "auto",
                 pattern: str | None = None):
        self.backend = open_backend(run_or_model, device, backend)
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
        # The masks predicted: the board's own among the network's (a family detector has
        # channels for every kind it finds: a chessboard has no `circles`), never resized or
        # judged for nothing.
        knowledge = self._knowledge()
        own = set(knowledge.mask_names) if knowledge and knowledge.mask_names else set(self.mask_names)
        self._channels = [k for k, name in enumerate(self.mask_names) if name in own]
        self.mask_names = [self.mask_names[k] for k in self._channels]
        self.judge = Judge(self.size, self.threshold, self.rule, tuple(self.mask_names), knowledge)

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
            # A user pattern's folder, wherever it is now, for a model trained on one: its masks
            # decide (the kinds compared are its and the model's folders' own names otherwise).
            def kind_of(text: str) -> str:
                return "a pattern folder" if names_pattern_folder(text) else text.split(":")[0]
            trained = kind_of(self.backend.pattern_spec) if self.backend.pattern_spec else ""
            if kind_of(board.spec) != trained or not set(board.mask_names) <= set(self.mask_names):
                raise UsageError(f"pattern '{spec}': the model was trained for '{self.backend.pattern_spec}', "
                                 f"another kind of pattern (train one with: segmenty train --pattern {board.spec})")
        return board.spec

    @property
    def options(self) -> dict:
        """The keyword arguments that build this Predictor again on the same model (a worker's)."""
        return {"size": self.size, "threshold": self.threshold, "rule": self.rule, "refine": self.refine,
                "multiscale": self.multiscale, "points": self.points,
                # the board asked for, if one was: the model's own is read from its files again
                "pattern": self._board}

    @property
    def pattern(self) -> Pattern | None:
        board = self._knowledge()
        return board.pattern if board else None

    def predict(self, rgb: np.ndarray, multiscale: bool | None = None) -> Prediction:
        """Masks, verdict and geometry for one RGB uint8 H×W×3 photo (`multiscale`: this
        time, whether to look again finer; None: the Predictor's own setting)."""
        return self.predict_batch([rgb], multiscale)[0]

    def predict_batch(self, images: list[np.ndarray], multiscale: bool | None = None) -> list[Prediction]:
        """Like `predict` for several photos; those with the same working shape share one
        network call (the results equal one-by-one prediction)."""
        start = time.perf_counter()
        looks = [Look(p, self.size) for p in self._run(images)]
        results = self._conclude(images, [self.judge(look, rgb.shape[:2]) for rgb, look in zip(images, looks)])
        looked = [self.size] * len(images)
        for scale in FINER_SCALES if (self.multiscale if multiscale is None else multiscale) else ():
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
                    finer = self.judge(Look(p, working), images[i].shape[:2], only_if_detected=True)
                    if finer.detected:
                        found = self._conclude([images[i]], [finer])[0]
                        # A board only a finer look resolves is far away, so seen whole: it
                        # must show more of its grid than a close, cut one.
                        if found.detected and (found.points is None
                                               or len(found.points) >= self.rule.min_far_grid_points):
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

    def _conclude(self, images: list[np.ndarray], verdicts: list[Verdict]) -> list[Prediction]:
        """Predictions from one look's verdicts: a detected board seen again close up (`refine`:
        it must pass the rule both times, the second verdict stands), then its one geometry
        (the points' for a grid pattern, which may still say it is no board; else the shape's)
        and the masks suppressed outside it."""
        if self.refine:
            boxes = {i: v.zoom_box for i, v in enumerate(verdicts) if v.detected and v.zoom_box is not None}
            crops = self._run([images[i][y0:y1, x0:x1] for i, (x0, y0, x1, y1) in boxes.items()])
            for (i, box), crop in zip(boxes.items(), crops):
                first = verdicts[i].look
                verdicts[i] = self.judge(Look(first.probs, first.working, (box, crop)), images[i].shape[:2])
        results = [self._finish(v, rgb.shape[:2]) for rgb, v in zip(images, verdicts)]
        if self._grid_geometry():
            results = [self._with_points(r, rgb, v) for r, rgb, v in zip(results, images, verdicts)]
        return results

    def _run(self, images: list[np.ndarray], size: int | None = None) -> list[np.ndarray]:
        """The network's M×h×w probabilities for each photo at working resolution (long side
        `size`, default the predictor's; padding cropped off), its channels of `mask_names`
        alone; photos of the same working shape share one call."""
        prepared = [self._prepare(rgb, size or self.size) for rgb in images]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (x, _) in enumerate(prepared):
            groups.setdefault(x.shape[1:], []).append(i)
        probs: list[np.ndarray] = [np.empty(0)] * len(images)
        every = len(self._channels) == len(self.backend.mask_names)
        for indices in groups.values():
            out = self.backend.run(np.stack([prepared[i][0] for i in indices]))
            for i, p in zip(indices, out):
                h, w = prepared[i][1]
                probs[i] = p[:, :h, :w] if every else p[self._channels, :h, :w]
        return probs

    def _prepare(self, rgb: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int]]:
        """Resize (long side = size), pad to the stride -> 3×H'×W' float32, and the unpadded size."""
        check_rgb(rgb)
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

    def _finish(self, verdict: Verdict, shape: tuple[int, int]) -> Prediction:
        """The Prediction of a verdict: masks at the photo's size, the shape's outline (and,
        unless the points will give the geometry, its homography), the mask snapped to the
        outline, suppression outside the verdict's region."""
        h, w = shape
        analysis, look, region = verdict.analysis, verdict.look, verdict.region
        # At the photo's size the analysis maps are the masks themselves (not copies: the grid's
        # geometry later reads the network's own mask as suppressed here).
        full = list(analysis) if analysis[0].shape == (h, w) else compose_maps(look.probs, look.zoom, (w, h), (w, h))
        masks = self.board_masks(full)
        result = Prediction(masks, None, None, verdict.detected, *verdict.stats)
        if not verdict.detected:
            return self._suppress(result, None)
        board = self.judge.board
        outline = verdict.outline
        if board and not self._grid_geometry():
            result.homography = self._homography(board, outline, analysis, verdict.to_photo)
        result.outline = outline.astype(np.float32)
        snap = self.rule.snap_fill
        # For a grid pattern the snapped mask is where its points are looked for (`_with_points`),
        # their own mask then replaces it: the raw mask as that region let a false point into one
        # of opencv's half views (right05 top: IoU 0.979 -> 0.955; benchmarks/real.py halves).
        if board and board.quadrilateral and snap is not None and verdict.fit.fill >= snap:
            masks["mask"] = geo.quad_coverage(result.outline, (h, w))
        return self._suppress(result, region, look.working)

    def board_masks(self, maps) -> dict[str, np.ndarray]:
        """The maps of a look (the board's channels, `_run`) by name."""
        return dict(zip(self.mask_names, maps))

    def _grid_geometry(self) -> bool:
        """A detected board's outline and homography come from its points (`_with_points`: or
        it is not a board), not from the mask's shape."""
        board = self.judge.board
        layout = board.layout if board and self.points else None
        return layout is not None and layout.feature_mask in self.mask_names

    def _knowledge(self) -> BoardKnowledge | None:
        if not self.pattern_spec:
            return None
        # The model's own pattern, found by its name, must be the one it learned (an ONNX
        # export records its fingerprint); a board given by the user is taken as given.
        fingerprint = None if self._board else getattr(self.backend, "pattern_fingerprint", None)
        return board_knowledge(self.pattern_spec, fingerprint)

    def _with_points(self, result: Prediction, rgb: np.ndarray, verdict: Verdict) -> Prediction:
        """A detected grid pattern's points (points/), and its mask, outline and homography
        from them; a region whose points form no grid of the pattern is not a board."""
        layout = self.judge.board.layout
        if not result.detected:
            return result
        h, w = rgb.shape[:2]
        reach = max(3, round(0.01 * max(h, w)))  # the mask's edge may cut the outermost blobs
        region = cv2.dilate((result.masks["mask"] > self.threshold).astype(np.uint8),
                            np.ones((2 * reach + 1,) * 2, np.uint8)).astype(bool)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        found = find_grid_points(gray, result.masks[layout.feature_mask], layout, region,
                                 threshold=self.threshold, min_points=self.rule.min_grid_points)
        if found is None or len(found) < self.rule.min_grid_points:
            result.detected, result.outline, result.homography = False, None, None
            result.board_without_grid = True
            return self._suppress(result, None)
        result.points = found
        # The network's own `mask` (not snapped to an outline) says where a partial view's
        # board goes on beyond its points.
        support = verdict.analysis[0]
        if support.shape != (h, w):
            support = cv2.resize(support, (w, h), interpolation=cv2.INTER_LINEAR)
        result.masks["mask"], result.outline, result.homography = grid_geometry(
            found, layout, (h, w), support, gray, self.threshold)
        return result

    def _homography(self, board: BoardKnowledge, outline: np.ndarray, analysis: tuple,
                    to_photo: tuple[float, float]) -> np.ndarray:
        """From the outline, refined with the other masks' blobs where the pattern has points."""
        pattern, features = board.pattern, board.features
        hom = geo.homography(pattern.outline, outline)
        if len(features) and len(analysis) > 1:
            blobs = np.concatenate([geo.blob_centres(m > self.threshold) for m in analysis[1:]])
            if len(blobs):
                refined = geo.refine_homography(hom, features, scale_points(blobs, to_photo))
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
