"""The scores of a model on real photos: the one owner of eval.json's schema.

`segmenty evaluate` computes them (eval/evaluate.py), `EvalResult.to_dict` writes eval.json,
`EvalResult.from_json` reads it back for the report, the run folder (`Run.eval_result`) and
benchmarks; none of them retypes a field, a rule or a view name. A plain-data module (no
stage imports), so the run folder below evaluation can read what evaluation wrote.

Scores, all on the ``mask`` channel thresholded at `threshold`:
- whole photos: IoU against the truth mask; a photo counts as found when IoU > FOUND_IOU;
- halves: every labelled photo cut through the centroid of its truth (HALF_SIDES) and
  predicted on the crop alone — partial views, where classical detectors give up;
- negatives (photos with no board): a false detection when the predicted area exceeds
  FALSE_DETECTION_AREA of the photo or the predictor itself says ``detected``.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from .errors import SegmentyError

FOUND_IOU = 0.5             # a labelled view counts as detected above this IoU
FALSE_DETECTION_AREA = 0.01  # a negative is flagged above this predicted fraction of the photo
HALF_SIDES = ("left", "right", "top", "bottom")
EVAL_FILE = "eval.json"


@dataclass
class Score:
    """One prediction: a whole photo, a half of one (`view`), or a negative (iou None)."""

    name: str
    view: str                # "whole", one of HALF_SIDES, or "negative"
    iou: float | None        # None for negatives (no truth)
    area: float              # predicted fraction of the image
    detected: bool           # what the predictor said
    score: float
    ms: float

    @property
    def found(self) -> bool:
        return self.iou is not None and self.iou > FOUND_IOU

    @property
    def false_detection(self) -> bool:
        return self.iou is None and (self.area > FALSE_DETECTION_AREA or self.detected)

    @classmethod
    def from_dict(cls, row: dict) -> Score:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


# A pixel whose probability is over this belongs to the mask: every stage's default (predict's
# --threshold, evaluation, training's metrics).
MASK_THRESHOLD = 0.5


@dataclass
class EvalResult:
    model: str
    threshold: float
    size: int | None
    refine: bool | None = None  # the zoomed-in second look (None: a predictor that does not say)
    multiscale: bool | None = None  # finer looks where the first finds nothing (None: does not say)
    whole: list[Score] = field(default_factory=list)
    halves: list[Score] = field(default_factory=list)
    negatives: list[Score] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # file name -> why it was not scored

    @staticmethod
    def _mean(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None

    @property
    def summary(self) -> dict:
        return {
            "photos": len(self.whole),
            "mean_iou": self._mean([s.iou for s in self.whole]),
            "detection_rate": self._mean([float(s.found) for s in self.whole]),
            "halves": len(self.halves),
            "mean_iou_halves": self._mean([s.iou for s in self.halves]),
            "detection_rate_halves": self._mean([float(s.found) for s in self.halves]),
            "negatives": len(self.negatives),
            "false_detections": sum(s.false_detection for s in self.negatives),
            "unlabelled": len(self.unlabelled),
            "skipped": len(self.skipped),
            "mean_ms": self._mean([s.ms for s in self.whole + self.negatives]),
        }

    def halves_by_photo(self) -> dict[str, dict[str, float | None]]:
        """photo name -> {side: IoU} of its half views."""
        out: dict[str, dict[str, float | None]] = {}
        for s in self.halves:
            out.setdefault(s.name, {})[s.view] = s.iou
        return out

    def to_dict(self) -> dict:
        def rows(scores: list[Score]) -> list[dict]:
            return [{**asdict(s), "found": s.found, "false_detection": s.false_detection} for s in scores]
        return {"model": self.model, "threshold": self.threshold, "size": self.size, "refine": self.refine,
                "multiscale": self.multiscale,
                "rules": {"found_iou": FOUND_IOU, "false_detection_area": FALSE_DETECTION_AREA},
                "summary": self.summary, "whole": rows(self.whole), "halves": rows(self.halves),
                "negatives": rows(self.negatives), "unlabelled": self.unlabelled, "skipped": self.skipped}

    @classmethod
    def from_dict(cls, data: dict) -> EvalResult:
        """The result `to_dict` describes (derived fields such as the summary are recomputed)."""
        whole, halves, negatives = ([Score.from_dict(r) for r in data.get(k, [])]
                                    for k in ("whole", "halves", "negatives"))
        return cls(data["model"], data["threshold"], data.get("size"), data.get("refine"), data.get("multiscale"),
                   whole, halves, negatives, list(data.get("unlabelled", [])), dict(data.get("skipped", {})))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> EvalResult:
        """Read an eval.json (a folder means its eval.json); a one-line error when it is not one."""
        path = Path(path)
        if path.is_dir():
            path = path / EVAL_FILE
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise SegmentyError(f"{path}: no such file (make it with 'segmenty evaluate')") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SegmentyError(f"{path}: not an eval.json written by 'segmenty evaluate' "
                                f"({type(exc).__name__}: {exc})") from None

    def table(self) -> str:
        """The result as a plain-text table: one row per photo (whole and its halves), one per
        negative, then the summary."""
        halves = self.halves_by_photo()
        width = max([len(s.name) for s in self.whole + self.negatives] + [5])
        lines = [f"{'photo':<{width}}  {'whole':>6}  " + "  ".join(f"{v:>6}" for v in HALF_SIDES)]
        for s in self.whole:
            cells = [_fmt(halves.get(s.name, {}).get(v)) for v in HALF_SIDES]
            lines.append(f"{s.name:<{width}}  {_fmt(s.iou)}  " + "  ".join(cells))
        if self.negatives:
            lines.append("")
            lines.append(f"{'negative':<{width}}  {'area':>6}  detected  false detection")
            for s in self.negatives:
                lines.append(f"{s.name:<{width}}  {s.area:6.1%}  {'yes' if s.detected else 'no':<8}  "
                             f"{'YES' if s.false_detection else 'no'}")
        m = self.summary
        lines.append("")
        lines.append(f"mean IoU {_fmt(m['mean_iou']).strip()} on {m['photos']} photos "
                     f"(detected {_pct(m['detection_rate'])}); halves {_fmt(m['mean_iou_halves']).strip()} "
                     f"on {m['halves']} (detected {_pct(m['detection_rate_halves'])})")
        if self.negatives:
            lines.append(f"false detections: {m['false_detections']} of {m['negatives']} negatives")
        if self.unlabelled:
            lines.append(f"unlabelled (skipped): {', '.join(self.unlabelled)}")
        if self.skipped:
            lines.append(f"unreadable (skipped): {', '.join(self.skipped)}")
        return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return f"{v:6.3f}" if v is not None else f"{'-':>6}"


def _pct(v: float | None) -> str:
    return f"{v:.0%}" if v is not None else "-"


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two bool masks; 1.0 when both are empty (they agree)."""
    union = np.logical_or(pred, truth).sum()
    return float(np.logical_and(pred, truth).sum() / union) if union else 1.0
