"""A real video for the tracking benchmarks: a virtual camera moving over the dev photos.

    python benchmarks/video.py --out VIDEO.mp4 [--photos DIR ...] [--seconds-per-photo 3] [--fps 30]

Each photo (default: the boards of both real sets, ../shared/real) is filmed for a few seconds
by a virtual camera at 640x480: a smooth pan (two sines), a zoom between 1x and 1.5x the
photo's cover scale, a slow turn of a few degrees, motion blur along the camera's motion as
long as the motion of a frame, and now and then a moment out of focus; a cut to the next photo.
So consecutive frames are what a hand-held camera gives (the board moves a few pixels a frame,
sometimes leaves the frame), not unrelated photos.

`virtual_camera(images, ...)` yields the frames (RGB) and, for each, the 2×3 affine matrix photo
px -> frame px, so the photo's own points (e.g. findChessboardCornersSB's) can be carried into
each frame as truth.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = [REPO.parent / "shared" / "real" / sub for sub in ("chessboard-10x7", "opencv-samples/chessboard-10x7")]
SIZE = (640, 480)


def _motion_blur(rgb: np.ndarray, dx: float, dy: float) -> np.ndarray:
    length = float(np.hypot(dx, dy))
    if length < 1.0:
        return rgb
    n = int(np.ceil(length)) | 1
    kernel = np.zeros((n, n), np.float32)
    c = n // 2
    for t in np.linspace(-0.5, 0.5, 2 * n):
        kernel[int(round(c + t * dy)), int(round(c + t * dx))] = 1.0
    return cv2.filter2D(rgb, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def camera_path(k: int, n: int, photo_size: tuple[int, int], size=SIZE, seed: int = 0) -> np.ndarray:
    """The 2×3 affine photo px -> frame px of frame k of n over one photo."""
    rng = np.random.default_rng(seed)
    f1, f2, f3 = rng.uniform(0.6, 1.0, 3)
    p1, p2, p3 = rng.uniform(0, 2 * np.pi, 3)
    t = k / max(1, n)
    pw, ph = photo_size
    w, h = size
    cover = max(w / pw, h / ph)
    zoom = 1.25 + 0.25 * np.sin(2 * np.pi * f3 * t + p3)
    scale = cover * zoom
    # the centre may move as far as the zoomed frame stays on the photo
    room = np.array([pw / 2 - w / (2 * scale), ph / 2 - h / (2 * scale)])
    centre = np.array([pw / 2, ph / 2]) + 0.9 * room * np.array([np.sin(2 * np.pi * f1 * t + p1),
                                                                np.sin(2 * np.pi * f2 * t + p2)])
    angle = 4.0 * np.sin(2 * np.pi * 0.5 * t + p1)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    m[:, 2] += np.array([w / 2, h / 2]) - centre
    return m


def virtual_camera(images: list[np.ndarray], seconds_per_photo: float = 3.0, fps: float = 30.0, size=SIZE,
                   seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(frame RGB at `size`, its 2×3 affine photo -> frame, the photo's index) for every frame."""
    n = max(2, int(round(seconds_per_photo * fps)))
    for index, rgb in enumerate(images):
        ph, pw = rgb.shape[:2]
        focus = np.random.default_rng([seed, index]).integers(0, n)  # a moment out of focus
        previous = None
        for k in range(n):
            m = camera_path(k, n, (pw, ph), size, seed + index)
            frame = cv2.warpAffine(rgb, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            centre = np.array([size[0] / 2, size[1] / 2])
            if previous is not None:
                # how far the frame's centre content moved since the last frame: blur along it
                inv = cv2.invertAffineTransform(previous)
                moved = m @ np.r_[inv @ np.r_[centre, 1.0], 1.0] - centre
                frame = _motion_blur(frame, float(moved[0]), float(moved[1]))
            if abs(k - focus) < 4:
                frame = cv2.GaussianBlur(frame, (0, 0), 2.0 - 0.4 * abs(k - focus))
            previous = m
            yield frame, m, index


def write_video(path: Path, frames, fps: float = 30.0, size=SIZE) -> int:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    count = 0
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        count += 1
    writer.release()
    return count


def load_photos(folders) -> list[np.ndarray]:
    from segmenty.io import list_images, read_image

    return [read_image(f) for folder in folders for f in list_images(folder)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--photos", nargs="*", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--seconds-per-photo", type=float, default=3.0)
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()
    images = load_photos(args.photos)
    n = write_video(args.out, (f for f, _, _ in virtual_camera(images, args.seconds_per_photo, args.fps)), args.fps)
    print(f"{n} frames of {len(images)} photos -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
