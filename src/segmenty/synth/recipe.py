"""The recipe: which steps make a synthetic photo, in which order, with which ranges.

`Recipe`'s fields are the pipeline, in order; each holds a step (see steps/) or False to
leave it out, so ablations are one argument: ``Recipe(lens=False)``,
``Recipe(lens=LensDistortion(barrel=(0.2, 0.4)))``, ``Recipe(occlusion_aware=True)``.
Steps 1–8 of the original segmenty recipe keep their original ranges; the others are what
real cameras add and the original lacked.

Randomness: each step of sample i draws from its own stream, a Philox generator keyed by the
seed with counter (step name, i). So sample i depends on (seed, i) alone, whatever the worker
or order it is made in, and switching one step off leaves every other step's draws unchanged.
"""
from __future__ import annotations

import dataclasses
import functools
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError, unknown_name
from .conditions import LowLight, LowResolution, RollingShutter
from .scene import Scene
from .steps import (DISTRACTOR_KINDS, Backing, Blank, Brightness, CastShadow, ColourJitter, DefocusBlur, Distractors,
                    DynamicRange, Glare, Grayscale, Hands, JpegRecompression, LensDistortion,
                    LightingGradient, MotionBlur, Occluders, OverlayBlend, PaperBend, PaperMargin,
                    Person, PerspectivePlacement, SceneBackground, SensorNoise, Step, Vignetting)

__all__ = ["RECIPES", "Recipe", "STEP_TYPES", "StepStreams", "recipe_by_name", "run_recipe", "replay_recipe"]

# A recipe's field holds a step, or False where the step is left out.
MaybeStep = Step | bool


def _on(step_type):
    return field(default_factory=step_type)


@dataclass
class Recipe:
    """The ordered steps of a synthetic sample (field order = pipeline order)."""

    background: MaybeStep = _on(SceneBackground)
    distractors: MaybeStep = _on(Distractors)
    person: MaybeStep = _on(Person)
    lighting: MaybeStep = _on(LightingGradient)  # original 1
    paper_margin: MaybeStep = _on(PaperMargin)
    backing: MaybeStep = _on(Backing)
    brightness: MaybeStep = _on(Brightness)  # original 2
    paper_bend: MaybeStep = _on(PaperBend)
    blank: MaybeStep = _on(Blank)  # original 4
    placement: MaybeStep = _on(PerspectivePlacement)  # original 3
    hands: MaybeStep = _on(Hands)
    cast_shadow: MaybeStep = _on(CastShadow)
    glare: MaybeStep = _on(Glare)
    overlay: MaybeStep = _on(OverlayBlend)  # original 5 (and the overlay's brightness of 2)
    occluders: MaybeStep = _on(Occluders)  # original 6
    lens: MaybeStep = _on(LensDistortion)  # original 7
    rolling_shutter: MaybeStep = _on(RollingShutter)
    motion_blur: MaybeStep = _on(MotionBlur)  # original 8
    defocus: MaybeStep = _on(DefocusBlur)
    vignetting: MaybeStep = _on(Vignetting)
    colour: MaybeStep = _on(ColourJitter)
    dynamic_range: MaybeStep = _on(DynamicRange)
    grayscale: MaybeStep = _on(Grayscale)
    low_light: MaybeStep = _on(LowLight)
    noise: MaybeStep = _on(SensorNoise)
    low_resolution: MaybeStep = _on(LowResolution)
    jpeg: MaybeStep = _on(JpegRecompression)
    occlusion_aware: bool = False  # masks lose what occluders hide (default: amodal)

    def __post_init__(self) -> None:
        defaults = Recipe.__dataclass_fields__
        for name in _STEP_NAMES:
            value = getattr(self, name)
            if value is True:  # Recipe(lens=True) means the default step
                setattr(self, name, defaults[name].default_factory())
            elif value not in (False, None) and not isinstance(value, Step):
                raise TypeError(f"Recipe.{name} must be a step, True or False, not {value!r}")
        if not self.placement:
            raise ValueError("Recipe.placement cannot be switched off (every sample would be blank); "
                             "use Recipe(blank=Blank(probability=1.0)) for blank samples")

    @staticmethod
    def step_names() -> list[str]:
        return list(_STEP_NAMES)

    def steps(self) -> list[tuple[str, Step]]:
        """(name, step) of the steps switched on, in pipeline order."""
        return [(n, getattr(self, n)) for n in _STEP_NAMES if getattr(self, n)]

    def to_dict(self) -> dict:
        """Plain data describing the recipe (for index.json and run configs)."""
        out: dict = {"occlusion_aware": self.occlusion_aware}
        for name in _STEP_NAMES:
            step = getattr(self, name)
            out[name] = ({"step": type(step).__name__, **dataclasses.asdict(step)} if step else False)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Recipe:
        """The recipe `to_dict` recorded (a run's config.json): every step rebuilt with its
        recorded ranges. UsageError naming the step when the record is not one."""
        if not isinstance(data, dict):
            raise UsageError(f"recipe: expected a dict of steps (Recipe.to_dict), not {type(data).__name__}")
        steps: dict = {}
        for name in _STEP_NAMES:
            entry = data.get(name, False)
            if entry is False or entry is None:
                steps[name] = False
                continue
            if not isinstance(entry, dict) or entry.get("step") not in STEP_TYPES:
                kind = entry.get("step") if isinstance(entry, dict) else entry
                raise unknown_name(f"step for recipe.{name}", str(kind), STEP_TYPES)
            step_type = STEP_TYPES[entry["step"]]
            known = {f.name for f in dataclasses.fields(step_type)}
            unknown = sorted(set(entry) - known - {"step"})
            if unknown:
                raise UsageError(f"recipe.{name}: {entry['step']} has no field {unknown[0]} "
                                 f"(fields: {', '.join(sorted(known))})")
            # JSON turned the ranges' tuples into lists
            steps[name] = step_type(**{k: tuple(v) if isinstance(v, list) else v
                                       for k, v in entry.items() if k != "step"})
        return cls(**steps, occlusion_aware=bool(data.get("occlusion_aware", False)))

    @classmethod
    def original(cls, **changes) -> "Recipe":
        """Only the original segmenty recipe's eight steps, with its ranges. Its lens drew
        k1 ~ N(0, 0.001) with a 14–20 px focal length and centre 0.4–0.6 of the frame; at
        256 px that is a corner strength (our k) of N(0, 0.145): half pincushion, barrel
        above k = 0.2 in 8% of samples, and without the zoom, so barrel samples showed empty
        corners. Here k ~ U(-0.25, 0.25) (the same spread), zoomed as every lens here is."""
        off = {n: False for n in _STEP_NAMES if n not in ORIGINAL_STEPS}
        lens = LensDistortion(probability=1.0, barrel_chance=0.5, barrel=(0.0, 0.25), pincushion=(0.0, 0.25))
        return cls(**{**off, "lens": lens, **changes})


_STEP_NAMES = tuple(f.name for f in dataclasses.fields(Recipe) if f.name != "occlusion_aware")
# Every step class by name (each field's default): what a recorded recipe is read back with.
STEP_TYPES: dict[str, type] = {f.default_factory.__name__: f.default_factory
                               for f in dataclasses.fields(Recipe) if f.name in _STEP_NAMES}
# The original segmenty recipe's steps (Recipe.original switches the others off).
ORIGINAL_STEPS = ("background", "lighting", "brightness", "blank", "placement", "overlay", "occluders", "lens",
                  "motion_blur")

def sim2real_recipe() -> Recipe:
    """The training default, with the strengths tuned on real photos (see
    benchmarks/README.md). Compared with the original ranges, the sheet is lit less
    garishly, the reflection overlay and the occluders come less often and smaller: real
    targets are mostly seen whole and well lit, and a scene that hides the board behind ten
    big blobs teaches the network to guess, which it then does on real clutter too.

    The physical board's variations (`physical_recipe`: no margin or cut squares, a backing,
    people and hands, low-range and grey cameras, other printed targets) are left out here:
    at the same 2,013 steps they scored lower on both real sets (benchmarks/README.md)."""
    return Recipe(
        background=SceneBackground(exclude=NEW_TEXTURES),
        distractors=Distractors(kinds={k: v for k, v in DISTRACTOR_KINDS.items() if k not in NEW_TEXTURES}),
        person=False,
        lighting=LightingGradient(low=0.35),
        paper_margin=PaperMargin(probability=0.5, flush_chance=0.0, cut_chance=0.0),
        backing=False,
        brightness=Brightness(gain=(0.45, 1.0)),
        hands=False,
        overlay=OverlayBlend(probability=0.6, weight=(0.0, 0.35)),
        occluders=Occluders(probability=0.4, count=(1, 5), max_axis=0.15),
        vignetting=Vignetting(probability=0.3, strength=(0.1, 0.5)),
        dynamic_range=False,
        grayscale=Grayscale(probability=0.05),
        rolling_shutter=False,
        low_light=False,
        low_resolution=False,
    )


# Texture kinds added with the physical recipe (fabric, other printed targets).
NEW_TEXTURES = ("plaid", "markers", "circle_grid")


def physical_recipe() -> Recipe:
    """The sim2real default plus everything about the physical board and its surroundings a
    user's photo may differ in: a margin from none to wide, outer squares cut, a backing or
    frame, people in striped and checked clothes, hands on the board, washed-out and grey
    cameras, strong vignetting, other printed targets as distractors."""
    full = Recipe()
    return dataclasses.replace(sim2real_recipe(), **{name: getattr(full, name) for name in (
        "background", "distractors", "person", "paper_margin", "backing", "hands", "vignetting",
        "dynamic_range", "grayscale")})


def family_recipe() -> Recipe:
    """What the shipped family detectors train on for hours: the physical recipe (boards with
    and without a margin, backings, people, hands, other printed targets) and every way a
    camera fails at wide ranges (conditions.py: low light with shot noise, low resolution,
    rolling shutter; and motion blur to 15% of the frame, defocus, glare that saturates,
    hard shadows, JPEG down to quality 10). Leave nothing reliable except the pattern."""
    return dataclasses.replace(
        physical_recipe(),
        cast_shadow=CastShadow(probability=0.35, darkness=(0.2, 0.85), softness=(0.0, 0.08)),
        glare=Glare(probability=0.3, strength=(0.3, 1.0)),
        motion_blur=MotionBlur(probability=0.45, length=(3, 25)),
        defocus=DefocusBlur(probability=0.25, sigma=(0.5, 3.5)),
        rolling_shutter=RollingShutter(),
        low_light=LowLight(),
        noise=SensorNoise(probability=0.5, sigma=(2.0, 20.0)),
        low_resolution=LowResolution(),
        jpeg=JpegRecompression(probability=0.35, quality=(10, 90)),
    )


# Named recipes for `--recipe` (a preset is data: a function returning a Recipe).
RECIPES: dict[str, Callable[[], Recipe]] = {
    "default": sim2real_recipe,    # tuned for real photos
    "physical": physical_recipe,   # the default plus the physical board's variations
    "family": family_recipe,       # physical plus cameras at their worst: the shipped detectors'
    "full": Recipe,                # every step at the original's ranges
    "original": Recipe.original,   # only the original eight steps
}


def recipe_by_name(name: str) -> Recipe:
    if name not in RECIPES:
        raise unknown_name("recipe", name, RECIPES)
    return RECIPES[name]()


def recorded_recipe(steps: dict | None, name: str) -> Recipe:
    """The recipe a run records: its every step (config.json's `recipe_steps`), or where
    there are none (runs from before they were recorded) the preset `name` as it is today."""
    return Recipe.from_dict(steps) if steps else recipe_by_name(name)
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


class StepStreams:
    """The random stream of each step of each sample (see the module docstring). One
    Philox generator is re-keyed per step: building a new one costs 6x more, and this runs
    ~20 times per sample. A stream is valid until the next call."""

    def __init__(self, seed: int):
        self.seed = seed
        self._bits = np.random.Philox(key=[seed & _MASK64, (seed >> 64) & _MASK64])
        self._state = self._bits.state
        self._counter = self._state["state"]["counter"]
        self._generator = np.random.Generator(self._bits)

    def __call__(self, step: str, index: int) -> np.random.Generator:
        self._counter[:] = (0, 0, _step_key(step), index)
        self._state["buffer_pos"] = 4  # drop any buffered output of the previous stream
        self._state["has_uint32"] = 0
        self._bits.state = self._state
        return self._generator


_THREAD = threading.local()


def step_streams(seed: int) -> StepStreams:
    """This thread's StepStreams for `seed`, kept between samples (making one costs ~2% of a
    160-px sample); threads, and forked workers, each have their own."""
    streams = getattr(_THREAD, "streams", None)
    if streams is None or streams.seed != seed:
        streams = _THREAD.streams = StepStreams(seed)
    return streams


@functools.cache
def _step_key(step: str) -> int:
    return zlib.crc32(step.encode())


def run_recipe(recipe: Recipe, scene: Scene, seed: int, index: int, timings: dict | None = None) -> dict:
    """Run every step on `scene`; returns the params of each (None where the step's
    probability said it does not happen this time). With `timings`, adds each step's
    seconds to timings[name] (for benchmarks)."""
    streams = step_streams(seed)
    params: dict = {}
    for name, step in recipe.steps():
        start = time.perf_counter() if timings is not None else 0.0
        rng = streams(name, index)
        if rng.random() >= step.probability:
            params[name] = None
        else:
            params[name] = step.sample(rng, scene)
            step.apply(scene, params[name])
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
    return params


def replay_recipe(recipe: Recipe, scene: Scene, params: dict) -> None:
    """Apply recorded params again (no randomness): the same scene results."""
    for name, step in recipe.steps():
        if params.get(name) is not None:
            step.apply(scene, params[name])
