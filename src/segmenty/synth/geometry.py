"""Point geometry shared by the geometric steps: homographies, paper bending, a radial lens.

Every model here works in two directions, and both must agree exactly, because images and
masks are resampled with one and keypoints are moved with the other:

- ``source(x, y)``: for output pixel coordinates (any broadcastable float arrays), the
  coordinates to sample in the input; this builds the maps given to ``cv2.remap``.
- ``forward(points)``: where an input point (N×2) lands in the output; this moves keypoints.

Coordinates follow OpenCV's convention everywhere: the centre of pixel (col, row) is the point
(col, row), so an image of width W spans x in [-0.5, W - 0.5].
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Homogeneous denominators are kept at least this far from zero. Inverse homographies are
# scaled so the denominator is 1 on the sheet (see `normalised_inverse`); points with tiny
# ones lie near the horizon line of the sheet's plane and map far off the sheet either way.
_MIN_DENOMINATOR = 1e-4


def homography_from_rect(rect: tuple[float, float, float, float], quad: np.ndarray) -> np.ndarray:
    """The 3×3 homography taking the rectangle's corners (x0, y0, x1, y1), clockwise from
    top-left, onto `quad` (4×2, the same order)."""
    x0, y0, x1, y1 = rect
    src = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    return cv2.getPerspectiveTransform(src, np.asarray(quad, np.float32)).astype(np.float64)


def normalised_inverse(h: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The inverse of `h`, scaled so that its homogeneous denominator is 1 at the point
    `inside` (in h's output). Points on the sheet's side of the horizon then have a positive
    denominator and points beyond it a negative one, and plain division maps both right."""
    inv = np.linalg.inv(h)
    return inv / (inv[2, 0] * inside[0] + inv[2, 1] * inside[1] + inv[2, 2])


def apply_homography(h: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinate arrays through `h` in float32 on whole arrays (the hot path builds remap
    maps with it). `x` and `y` broadcast: a row of x and a column of y make a grid.

    Results near the horizon line can be huge; cv2.convertMaps saturates them to "outside"."""
    h = h.astype(np.float32)
    den = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    if np.abs(den).min() < _MIN_DENOMINATOR:  # rare: the horizon line crosses these points
        den = np.where(np.abs(den) < _MIN_DENOMINATOR, np.float32(_MIN_DENOMINATOR), den)
    inv = np.float32(1.0) / den
    u = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) * inv
    v = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) * inv
    return u, v


def pixel_scaling(scale_x: float, scale_y: float) -> np.ndarray:
    """The 3×3 map from an image's pixel coordinates to those of a copy resized by
    (scale_x, scale_y), with cv2.resize's pixel-centre alignment."""
    return np.array([[scale_x, 0, (scale_x - 1) / 2], [0, scale_y, (scale_y - 1) / 2], [0, 0, 1]])


def transform_points(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """N×2 points through a homography, in float64 for accuracy, returned as float32."""
    p = np.asarray(points, np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(p, h).reshape(-1, 2).astype(np.float32)


@dataclass(frozen=True)
class Bend:
    """A sheet bowed along one of its axes, as paper does when held at two edges.

    Points move perpendicular to `axis` (0: x, the sheet bows up/down along its width; 1: y)
    by ``amplitude * 4 t (1 - t)`` px, where t in [0, 1] runs across the paper along `axis`:
    the two ends stay put and the middle moves by `amplitude`. Because the displacement depends
    only on the coordinate along `axis`, the inverse is exact.
    """

    axis: int
    amplitude: float
    start: float  # paper edge where t = 0, along `axis`, in sheet px
    length: float  # paper extent along `axis`, in sheet px

    def _offset(self, along: np.ndarray) -> np.ndarray:
        t = (along - np.float32(self.start)) * np.float32(1.0 / self.length)
        return np.float32(4.0 * self.amplitude) * t * (np.float32(1.0) - t)

    def source(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat sheet coordinates of points of the bent sheet."""
        if self.axis == 0:
            return x, y - self._offset(x)
        return x - self._offset(y), y

    def scaled(self, scaling: np.ndarray) -> "Bend":
        """The same bend in coordinates scaled per axis by `scaling` (see pixel_scaling)."""
        along, across = (0, 1) if self.axis == 0 else (1, 0)
        return Bend(self.axis, self.amplitude * scaling[across, across],
                    self.start * scaling[along, along] + scaling[along, 2], self.length * scaling[along, along])

    def forward(self, points: np.ndarray) -> np.ndarray:
        """Bent-sheet coordinates of flat sheet points (N×2)."""
        p = np.array(points, np.float32).reshape(-1, 2)
        along, across = (0, 1) if self.axis == 0 else (1, 0)
        p[:, across] += self._offset(p[:, along])
        return p


@dataclass(frozen=True)
class RadialLens:
    """Radial (barrel or pincushion) distortion of a square frame, the cubic model in
    sampling form: output pixel p samples the undistorted image at

        c + (p - c) * zoom * (1 + k * |p - c|^2 / radius^2)

    `radius` is the distance from the centre c to the farthest frame corner, so `k` is the
    relative change of radial scale between the centre and that corner, whatever the image
    size: k > 0 is barrel (a wide-angle lens: straight lines bow outwards, edges squeezed),
    k < 0 pincushion. `zoom` is chosen so that every output pixel samples inside the frame,
    as a real camera's sensor sees a full picture (no empty corners).
    Needs k > -1/3 so that the radial map stays monotonic over the frame.
    """

    k: float
    cx: float
    cy: float
    radius: float
    zoom: float

    @classmethod
    def for_frame(cls, size: int, k: float, cx: float, cy: float) -> "RadialLens":
        """The lens for a size×size frame with its centre at (cx, cy) in pixels."""
        last = size - 1.0  # pixel centres span 0..size-1
        corner_dx, corner_dy = max(cx, last - cx), max(cy, last - cy)
        radius = float(np.hypot(corner_dx, corner_dy))
        # The border pixel whose sample would move outward the most: for barrel (k > 0) the
        # farthest corner (scale grows with radius), for pincushion the nearest edge.
        edge = 1.0 if k >= 0 else min(cx, last - cx, cy, last - cy) / radius
        return cls(k=float(k), cx=float(cx), cy=float(cy), radius=radius,
                   zoom=1.0 / (1.0 + k * edge * edge))

    def source(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx = x - np.float32(self.cx)
        dy = y - np.float32(self.cy)
        scale = np.float32(self.zoom) + np.float32(self.zoom * self.k / self.radius ** 2) * (dx * dx + dy * dy)
        return np.float32(self.cx) + dx * scale, np.float32(self.cy) + dy * scale

    def frame_map(self, size: int) -> np.ndarray:
        """`source` for every pixel of the size×size frame, as a size×size×2 float32 map.

        OpenCV's undistortion maps are this very model (as the original recipe used it): with
        output focal length `radius` the normalised radius is ours, k1 = k, and an input
        focal length `zoom * radius` applies the zoom; it is 2.5x faster than numpy."""
        camera = np.array([[self.zoom * self.radius, 0, self.cx], [0, self.zoom * self.radius, self.cy], [0, 0, 1]])
        output = np.array([[self.radius, 0, self.cx], [0, self.radius, self.cy], [0, 0, 1]])
        return cv2.initUndistortRectifyMap(camera, np.array([self.k, 0.0, 0.0, 0.0]), None, output, (size, size),
                                           cv2.CV_32FC2)[0]

    def forward(self, points: np.ndarray) -> np.ndarray:
        """Output coordinates of undistorted points: inverts `source` along each ray by
        Newton's method on the radius (exact to ~1e-6 px inside the frame's reach)."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        d = p - (self.cx, self.cy)
        r_src = np.hypot(d[:, 0], d[:, 1]) / self.radius  # where the point is, in radius units
        z, k = self.zoom, self.k

        def f(r):  # normalised sampling radius of output radius r
            return z * r * (1 + k * r * r)

        # Past r_cap the pincushion model folds back (df/dr = 0); points beyond its reach
        # (outside the frame, which never samples there) continue along the tangent at r_cap.
        r_cap = np.sqrt(1.0 / (-3.0 * k)) * 0.95 if k < 0 else np.inf
        # From this start Newton's steps approach the root from one side (f is convex for
        # k > 0, concave for k < 0) and converge quadratically: 6 steps reach 1e-12 of the
        # radius for |k| <= 0.4 out to 3 radii (keypoints far outside the frame).
        r = np.minimum(r_src / z, r_cap)
        for _ in range(6):
            r = np.minimum(r - (f(r) - r_src) / (z * (1 + 3 * k * r * r)), r_cap)
        if k < 0:
            beyond = r_src > f(r_cap)
            r[beyond] = r_cap + (r_src[beyond] - f(r_cap)) / (z * (1 + 3 * k * r_cap * r_cap))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(r_src > 0, r / r_src, 1.0 / z)
        return (np.array([self.cx, self.cy]) + d * ratio[:, None]).astype(np.float32)
