import cv2
import numpy as np
import pytest

import segmenty
from segmenty.patterns.segmenty import circle_centres


def test_segmenty_pattern_geometry():
    p = segmenty.load_pattern("segmenty")
    assert p.image.shape == (1100, 850, 3)
    assert p.mask_names == ["mask", "horizontal", "middle", "vertical"]
    centres = circle_centres()
    assert len(centres) == 30
    gray = cv2.cvtColor(p.image, cv2.COLOR_RGB2GRAY)
    for x, y, filled in centres:
        # the stroke ring (radius 28..36) is black everywhere; the inside follows `filled`
        assert gray[y - 32, x] < 60 and gray[y, x + 32] < 60
        # probe the interior beside the spoke (perpendicular to its direction)
        d = np.array([425 - x, 550 - y], float)
        d /= np.linalg.norm(d)
        px, py = (np.array([x, y]) + 16 * np.array([-d[1], d[0]])).round().astype(int)
        assert (gray[py, px] < 60) == filled
    for name, m in p.masks.items():
        assert m.dtype == bool and m.shape == (1100, 850), name
    assert p.masks["middle"][550, 425] and not p.masks["middle"][550, 425 + 40]


def test_chessboard_found_by_opencv_at_keypoints():
    p = segmenty.load_pattern("chessboard:10x7")
    gray = cv2.cvtColor(p.image, cv2.COLOR_RGB2GRAY)
    ok, corners = cv2.findChessboardCorners(gray, (9, 6))
    assert ok
    ours = np.array([v for k, v in p.keypoints.items() if k.startswith("corner_")])
    found = corners.reshape(-1, 2)
    if np.linalg.norm(found[0] - ours[0]) > np.linalg.norm(found[0] - ours[-1]):
        found = found[::-1]  # OpenCV may start from the opposite corner
    assert np.abs(found - ours).max() < 1.0


def test_chessboard_mask_is_squares_area():
    p = segmenty.load_pattern("chessboard:10x7:25")
    ys, xs = np.nonzero(p.masks["mask"])
    s = int(p.grid.spacing_px)
    assert xs.min() == s and xs.max() == s + 10 * s - 1
    assert ys.min() == s and ys.max() == s + 7 * s - 1
    assert p.size_mm == pytest.approx((300.0, 225.0))


@pytest.mark.parametrize("spec, needle", [
    ("chessbord:10x7", "did you mean 'chessboard'"),
    ("chessboard:1x0", "too small"),
    ("chessboard:ax7", "not a grid size"),
])
def test_bad_specs_raise_usage_error(spec, needle):
    with pytest.raises(segmenty.UsageError, match=needle):
        segmenty.load_pattern(spec)


@pytest.mark.parametrize("spec, smallest", [
    ("chessboard:2x2", "3x4 squares, either way round"),
    ("chessboard:3x3", "3x4 squares, either way round"),
    ("charuco:3x3", "3x4 squares, either way round"),
    ("circles:2x2", "2x3 circles, either way round"),
    ("circles:3x2:asym", "2x3 circles: 2 a row, 3 rows"),
])
def test_boards_too_small_to_be_found_are_refused(spec, smallest):
    # the smallest boards themselves are found (tests/predict/test_points.py)
    with pytest.raises(segmenty.UsageError, match=f"too small to be found.*the smallest is {smallest}"):
        segmenty.load_pattern(spec)


def test_public_api_is_lazy_and_complete():
    import subprocess
    import sys
    code = ("import sys, segmenty; assert 'torch' not in sys.modules; "
            "[getattr(segmenty, n) for n in segmenty.__all__]; "
            "assert callable(segmenty.train.train) and callable(segmenty.load)")
    subprocess.run([sys.executable, "-c", code], check=True)
