"""Streams of frames (segmenty.predict.stream.predict_stream, the one streaming path): each
frame with what `predict` gives, in order, in this process or in workers, tracked or not;
`then` applied where the prediction was made."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import segmenty
from segmenty.predict import DetectionRule, Predictor, predict_stream

from .test_predictor import rgb_noise


def test_stream_gives_each_frame_with_what_predict_gives(checkpoint):
    predictor = Predictor(checkpoint, rule=DetectionRule(suppress=False))
    frames = [rgb_noise(40, 56, seed=k) for k in range(4)]
    streamed = list(predict_stream(predictor, iter(frames)))
    assert len(streamed) == 4
    for rgb, (frame, pred) in zip(frames, streamed):
        assert frame is rgb
        assert np.array_equal(pred.masks["mask"], predictor.predict(rgb).masks["mask"])


def test_stream_in_worker_processes_gives_the_frames_in_order_with_the_same_masks(checkpoint):
    predictor = Predictor(checkpoint, rule=DetectionRule(suppress=False))
    frames = [rgb_noise(40, 56, seed=k) for k in range(5)]
    streamed = list(predict_stream(predictor, iter(frames), workers=2))
    assert len(streamed) == 5
    for rgb, (frame, pred) in zip(frames, streamed):
        assert np.array_equal(frame, rgb)
        assert np.array_equal(pred.masks["mask"], predictor.predict(rgb).masks["mask"])


def test_a_script_without_the_main_guard_is_named_when_its_workers_die(checkpoint, tmp_path):
    # Workers are spawned and import the script again, so its unguarded top level runs in each.
    script = tmp_path / "stream.py"
    script.write_text("import numpy as np\nimport segmenty\n"
                      f"predictor = segmenty.Predictor({str(checkpoint)!r})\n"
                      "frames = [np.zeros((40, 56, 3), np.uint8)] * 2\n"
                      "list(segmenty.predict.predict_stream(predictor, frames, workers=2))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(segmenty.__file__).parent.parent)}
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env=env)
    assert res.returncode != 0
    # The dying workers' own lines (their tracebacks, a warning) may land after the error: a race
    # between processes sharing the terminal, so the error is looked for among all the lines.
    assert any("worker process died" in line and "if __name__ == \"__main__\":" in line
               for line in res.stderr.splitlines()), res.stderr[-2000:]


@dataclass(frozen=True)
class Summary:
    """A `then` for the tests: (position, the frame's shape, the mask's sum), where predicted."""

    scale: float = 1.0

    def __call__(self, predictor, position, rgb, prediction):
        return position, rgb.shape, self.scale * float(prediction.masks["mask"].sum())


@pytest.mark.parametrize("workers, track", [(1, 0), (2, 0), (1, 30)], ids=["here", "in workers", "tracking"])
def test_then_is_applied_to_every_frame_in_order(checkpoint, workers, track):
    predictor = Predictor(checkpoint, rule=DetectionRule(suppress=False))
    frames = [rgb_noise(40 + 8 * k, 56, seed=k) for k in range(6)]
    out = list(predict_stream(predictor, iter(frames), workers=workers, track=track, then=Summary(2.0)))
    assert [o[0] for o in out] == list(range(6))
    assert [o[1] for o in out] == [f.shape for f in frames]
    for rgb, (_, _, total) in zip(frames, out):
        assert total == pytest.approx(2.0 * float(predictor.predict(rgb).masks["mask"].sum()), rel=1e-5)
