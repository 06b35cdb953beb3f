"""How far to trust each point, and a camera solved with each point weighted by it.

`point_sigma`: every point of a view gets a standard deviation (px) of its position, from the
photo itself, by Förstner's precision of a point located from the gradients around it: the
point's covariance is the image noise's variance times the inverse of the window's structure
tensor (the sum of the gradients' outer products). A sharp, contrasty corner has steep gradients
in two directions and a small sigma; a blurred, dark, glared or far corner has shallow ones and
a larger sigma, across the blur's direction most. The noise is measured on the photo
(Immerkær's fast estimate). A floor (MODEL_SIGMA_PX, added in quadrature) stands for what
no window shows: the detector's own bias, the print's flatness, the lens model's misfit; without
it a crisp corner would claim a hundredth of a pixel and outweigh the rest of the board.

`solve_weighted`: OpenCV's calibrateCamera takes no weights, so its camera is the start and
SciPy's least squares (`scipy.optimize.least_squares`) refines every parameter (intrinsics,
distortion, each view's pose) on residuals divided by each point's sigma, with OpenCV's own
projection Jacobian (`cv2.projectPoints`). A view whose points stray from OpenCV's fit by more
than their sigmas say (a blur the window does not show, a board that is not flat) has its
sigmas scaled up by that factor first (one round of variance components, in Helmert's sense),
never down. The intrinsics' standard deviations come from the weighted Jacobian at the
solution. Pinhole and rational models; the fisheye model keeps OpenCV's unweighted solver.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

MODEL_SIGMA_PX = 0.1  # added in quadrature to every point's sigma (see the module doc)
WINDOW_SHARE = 0.5    # the window's half-width, as a share of the distance to the point's nearest neighbour ...
WINDOW_MIN, WINDOW_MAX = 2, 10  # ... within these many px
DENSE_LIMIT = 20_000_000  # Jacobian entries up to which it is kept dense (else sparse, LSMR)


def image_noise(gray: np.ndarray) -> float:
    """The standard deviation of the photo's noise (grey levels), by Immerkær's estimate (a
    Laplacian-difference kernel blind to edges' first order)."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = cv2.filter2D(gray.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    h, w = response.shape
    return float(math.sqrt(math.pi / 2) * np.abs(response).sum() / (6.0 * w * h)) if w * h else 0.0


def point_sigma(gray: np.ndarray, xy: np.ndarray, noise: float | None = None) -> np.ndarray:
    """N float64: each point's positional standard deviation (px) in `gray` (H×W uint8)."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    if len(xy) == 0:
        return np.zeros(0)
    noise = image_noise(gray) if noise is None else noise
    image = gray.astype(np.float32)
    # Sobel's 3x3 kernel sums eight times the per-pixel difference: divided back to grey levels a px.
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3) / 8
    products = (gx * gx, gx * gy, gy * gy)
    if len(xy) > 1:
        d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
        np.fill_diagonal(d, np.inf)
        nearest = d.min(axis=1)
    else:
        nearest = np.full(1, 2.0 * WINDOW_MAX)
    half = np.clip(np.round(WINDOW_SHARE * nearest), WINDOW_MIN, WINDOW_MAX).astype(int)
    h, w = gray.shape
    sigma = np.full(len(xy), np.inf)
    for k, ((x, y), r) in enumerate(zip(np.round(xy).astype(int), half)):
        x0, x1, y0, y1 = max(0, x - r), min(w, x + r + 1), max(0, y - r), min(h, y + r + 1)
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        a, b, c = (float(p[y0:y1, x0:x1].sum()) for p in products)
        det = a * c - b * b
        if det <= 1e-9:
            continue
        # The inverse tensor's trace / 2: the mean of the two axes' variances per unit noise.
        sigma[k] = noise * math.sqrt((a + c) / det / 2)
    # A point with no measurable gradient (clipped, flat): trusted like the least-trusted others.
    finite = np.isfinite(sigma)
    sigma[~finite] = sigma[finite].max() if finite.any() else 1.0
    return np.sqrt(sigma ** 2 + MODEL_SIGMA_PX ** 2)


def solve_weighted(obj: list[np.ndarray], img: list[np.ndarray], sigma: list[np.ndarray],
                   camera: np.ndarray, dist: np.ndarray, rvecs, tvecs):
    """Refine OpenCV's solution with each point's residual divided by its sigma.

    obj, img, sigma: per view, N×3 object points, N×2 image points, N sigmas (px).
    Returns (camera, dist, rvecs, tvecs, std) with std the intrinsics' standard deviations in
    the order fx fy cx cy then the distortion terms."""
    from scipy.optimize import least_squares
    from scipy.sparse import csr_matrix

    n_dist = len(dist)
    n_intr = 4 + n_dist
    views = len(obj)
    counts = [len(o) for o in obj]
    obj = [np.asarray(o, np.float64).reshape(-1, 3) for o in obj]
    target = np.concatenate([np.asarray(i, np.float64).reshape(-1, 2) for i in img])
    x0 = np.concatenate([[camera[0, 0], camera[1, 1], camera[0, 2], camera[1, 2]], np.ravel(dist)]
                        + [np.concatenate([np.ravel(r), np.ravel(t)]) for r, t in zip(rvecs, tvecs)])
    m, n = 2 * sum(counts), len(x0)
    inv_sigma = np.repeat(1.0 / np.concatenate(view_sigmas(obj, img, sigma, camera, dist, rvecs, tvecs)), 2)
    dense = m * n <= DENSE_LIMIT

    def unpack(x):
        k = np.array([[x[0], 0, x[2]], [0, x[1], x[3]], [0, 0, 1]])
        return k, x[4:n_intr], x[n_intr:].reshape(views, 6)

    cache: dict = {}

    def project_all(x):
        # least_squares asks for the residuals and then the Jacobian at the same x: project once.
        if cache.get("x") is not None and np.array_equal(cache["x"], x):
            return cache["out"]
        k, d, poses = unpack(x)
        points, jacobians = [], []
        for o, pose in zip(obj, poses):
            p, j = cv2.projectPoints(o, pose[:3], pose[3:], k, d)
            points.append(p.reshape(-1))
            jacobians.append(j)
        cache["x"], cache["out"] = x.copy(), (np.concatenate(points), jacobians)
        return cache["out"]

    def residuals(x):
        return (project_all(x)[0] - target.reshape(-1)) * inv_sigma

    def jacobian(x):
        _, jacobians = project_all(x)
        # cv2.projectPoints' columns: rvec(3) tvec(3) f(2) c(2) dist -> ours: f c dist, then the poses.
        blocks_intr = np.concatenate([j[:, 6:6 + n_intr] for j in jacobians])
        if dense:
            out = np.zeros((m, n))
            out[:, :n_intr] = blocks_intr
            row = 0
            for v, j in enumerate(jacobians):
                out[row:row + len(j), n_intr + 6 * v:n_intr + 6 * v + 6] = j[:, :6]
                row += len(j)
            return out * inv_sigma[:, None]
        rows, cols, vals, row = [], [], [], 0
        for v, j in enumerate(jacobians):
            r = np.arange(row, row + len(j))
            for c in range(n_intr):
                rows.append(r), cols.append(np.full(len(j), c)), vals.append(j[:, 6 + c])
            for c in range(6):
                rows.append(r), cols.append(np.full(len(j), n_intr + 6 * v + c)), vals.append(j[:, c])
            row += len(j)
        rows, cols, vals = (np.concatenate(a) for a in (rows, cols, vals))
        return csr_matrix((vals * inv_sigma[rows], (rows, cols)), shape=(m, n))

    # MINPACK's Levenberg-Marquardt (a QR a step) where the Jacobian fits in memory: several times
    # faster than the trust-region's SVD a step on a calibration's tall, narrow Jacobian.
    if dense:
        fit = least_squares(residuals, x0, jac=jacobian, method="lm", x_scale="jac", xtol=1e-10, ftol=1e-10,
                            max_nfev=100)
    else:
        fit = least_squares(residuals, x0, jac=jacobian, method="trf", x_scale="jac", tr_solver="lsmr",
                            xtol=1e-10, ftol=1e-10, max_nfev=100)
    k, d, poses = unpack(fit.x)
    jtj = fit.jac.T @ fit.jac
    jtj = jtj if dense else jtj.toarray()
    scale = 2 * fit.cost / max(1, m - n)
    try:
        covariance = np.linalg.inv(jtj) * scale
        std = np.sqrt(np.clip(np.diag(covariance)[:n_intr], 0, None))
    except np.linalg.LinAlgError:
        std = np.full(n_intr, np.nan)
    rvecs = [p[:3].reshape(3, 1).copy() for p in poses]
    tvecs = [p[3:].reshape(3, 1).copy() for p in poses]
    return k, np.asarray(d, np.float64), rvecs, tvecs, std


def view_sigmas(obj, img, sigma, camera, dist, rvecs, tvecs) -> list[np.ndarray]:
    """Each view's sigmas scaled by how far its points stray from the (unweighted) fit in units
    of their sigmas, when that is over 1: a view's residuals are the evidence its window lacks."""
    out = []
    for o, i, s, r, t in zip(obj, img, sigma, rvecs, tvecs):
        projected = cv2.projectPoints(np.asarray(o, np.float64).reshape(-1, 3), r, t, camera, dist)[0].reshape(-1, 2)
        s = np.asarray(s, np.float64)
        excess = math.sqrt(float(np.mean(np.sum((projected - np.asarray(i).reshape(-1, 2)) ** 2, axis=1) / 2 / s ** 2)))
        out.append(s * max(1.0, excess))
    return out
