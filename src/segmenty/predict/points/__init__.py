"""The pattern's points with their identities, and the board's geometry derived from them.

For a grid pattern (chessboard and ChArUco inner corners, circle-grid centres) the network's
point mask (`corners`, `circles`) is a heat map with a blob on every point. This package turns
it into what a camera calibration needs, `GridPoints`: sub-pixel positions on the photo, each
with its grid identity (column, row) and a confidence; and from those points, the board's
mask, outline and homography (`grid_geometry`), so that the geometry is the grid's, not a
blob's.

How (`find_grid_points`, in find.py; each step a module of its own: candidates.py (1, 2),
lattice.py (3), identity.py (4); the geometry from the points in geometry.py; the grid a
pattern prints and the points' record in grid.py):
1. Candidates: local maxima of the heat map inside the board's region (blob centres for
   circles, whose discs are large).
2. Refinement on the photo at full resolution: `cv2.cornerSubPix` for saddle points, with a
   window sized from the local grid spacing (a fixed window either reaches the neighbouring
   corners of a small board or wastes the precision of a large one), then a saddle-point fit
   (a quadratic surface on the lightly smoothed photo, also near the frame); for circles the
   centroid of the dark blob (Otsu threshold on a patch one spacing wide).
3. Grid growth from a seed (the candidate whose four nearest neighbours best form a cross):
   each neighbour's position is predicted from the grid already grown around it (the
   parallelogram of its neighbours and the continuation of its row), so the prediction follows
   perspective and strong barrel distortion, which one global homography does not; the
   nearest candidate within a fraction of the local spacing is accepted. Where the network
   missed a point the grid predicts inside the photo (often at the frame, where lens
   distortion is strongest), the photo itself is searched there, and the point is kept only if
   it is a real corner (the four squares around it alternate dark and bright) or a dark blob.
4. Identities: the grown lattice is placed on the pattern's own grid of points (every rotation
   that keeps the board's handedness, every offset that fits). A whole board leaves only the
   board's symmetries, told apart by what the pattern shows: the squares' colours (a 10x7
   chessboard has an even and an odd side, so it differs from its half-turn), ChArUco markers
   (which also fix the ids of a partial view), an asymmetric circle grid's layout. A board
   that is truly symmetric under a half-turn (e.g. 9x7 squares, a symmetric circle grid) is
   numbered by convention: id (0, 0) is the end of the board higher in the photo
   (`identity == "convention"`). A partial chessboard or circle grid cannot be placed: its ids
   are relative to the visible grid (`identity == "relative"`; (0, 0) at its top-left, the
   column axis the one closer to the photo's x axis).

Conventions: ids follow the pattern's own keypoints, so they index the printed sheet: for a
chessboard, (col, row) of keypoint ``corner_RR_CC`` is (CC, RR), (0, 0) is the inner corner of
the black top-left square of the sheet `segmenty pattern` draws, columns run along the C side
of ``chessboard:CxR``. (OpenCV's ``findChessboardCornersSB`` numbers a 10x7 board from the
other end: its corner k is our id (8 - k % 9, 5 - k // 9).) ChArUco: the id is (k % (C-1),
k // (C-1)) for ChArUco corner id k. Circles: (CC, RR) of ``circle_RR_CC``, OpenCV's order.

Pure numpy/OpenCV (no torch): testable on rendered scenes and synthetic heat maps alone.
"""
from .candidates import (MAX_REFINE_SHIFT, MAX_SUBPIX_WINDOW, MIN_SUBPIX_WINDOW, PEAK_SHARE, SADDLE_FIT_BLUR,
                         SADDLE_FIT_MIN_SHARE, SADDLE_FIT_SHIFT, SADDLE_FIT_WINDOW, SADDLE_OFFSET, SUBPIX_WINDOW,
                         heat_candidates, refine_points, saddle_contrast, saddle_point, saddle_points, subpix_corners)
from .find import MIN_GRID_POINTS, MIN_SADDLE_CONTRAST, find_grid_points
from .geometry import grid_geometry
from .grid import BLOB, IDENTITIES, SADDLE, GridLayout, GridPoints, grid_layout
from .identity import assign_ids, placements
from .lattice import MATCH_RADIUS, grow_grid

__all__ = ["BLOB", "IDENTITIES", "MATCH_RADIUS", "MAX_REFINE_SHIFT", "MAX_SUBPIX_WINDOW", "MIN_GRID_POINTS",
           "MIN_SADDLE_CONTRAST", "MIN_SUBPIX_WINDOW", "PEAK_SHARE", "SADDLE", "SADDLE_FIT_BLUR",
           "SADDLE_FIT_MIN_SHARE", "SADDLE_FIT_SHIFT", "SADDLE_FIT_WINDOW", "SADDLE_OFFSET", "SUBPIX_WINDOW",
           "GridLayout", "GridPoints", "assign_ids", "find_grid_points", "grid_geometry", "grid_layout", "grow_grid",
           "heat_candidates", "placements", "refine_points", "saddle_contrast", "saddle_point", "saddle_points",
           "subpix_corners"]
