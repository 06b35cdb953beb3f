"""The steps of a recipe, one class per effect a camera, a scene or a printer has on a photo.

Every step is a small dataclass whose fields are its ranges and whose `probability` says how
often it happens. It works in two halves:

- ``sample(rng, scene) -> params``: draw everything random (a plain JSON-able dict; the
  scene is only read, e.g. for its size or the paper's current rectangle);
- ``apply(scene, params)``: change the scene in place with those params, moving the image,
  every mask and every keypoint alike (see scene.py for how masks follow geometric steps).

So a sample's params replay it exactly, and a recipe can be changed one step at a time.
Steps up to `PerspectivePlacement` prepare the background (world.py) and the paper (sheet.py);
the sheet is composited there; later steps act on the whole photo (photo.py). base.py states
the contract (`Step`). Everything works on uint8 images with
OpenCV calls: this is the hot path of training.
"""
from .base import Range, Step
from .photo import (CastShadow, ColourJitter, DefocusBlur, DynamicRange, Glare, Grayscale, JpegRecompression,
                    LensDistortion, MotionBlur, Occluders, OverlayBlend, SensorNoise, Vignetting)
from .sheet import (BACKING_MATERIALS, Backing, Blank, Brightness, LightingGradient, PaperBend, PaperMargin,
                    PerspectivePlacement)
from .world import DISTRACTOR_KINDS, SKIN_TONES, Distractors, Hands, Person, SceneBackground

__all__ = ["BACKING_MATERIALS", "DISTRACTOR_KINDS", "SKIN_TONES", "Backing", "Blank", "Brightness", "CastShadow",
           "ColourJitter", "DefocusBlur", "Distractors", "DynamicRange", "Glare", "Grayscale", "Hands",
           "JpegRecompression", "LensDistortion", "LightingGradient", "MotionBlur", "Occluders", "OverlayBlend",
           "PaperBend", "PaperMargin", "Person", "PerspectivePlacement", "Range", "SceneBackground", "SensorNoise",
           "Step", "Vignetting"]
