"""The pattern library checked against real tools: OpenCV's detectors, resvg, the PDF bytes."""
import io
import re
import string
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import resvg_py
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

import segmenty
from segmenty import SegmentyError, UsageError
from segmenty.patterns import OUTLINE_KEYPOINTS, PATTERN_KINDS
from segmenty.patterns.render import write_pattern

BUILT_IN_SPECS = ["segmenty", "chessboard:10x7", "charuco:5x7", "circles:7x5", "circles:4x11:asym"]


def gray(pattern):
    return cv2.cvtColor(pattern.image, cv2.COLOR_RGB2GRAY)


def keypoints_starting(pattern, prefix):
    return np.array([xy for name, xy in pattern.keypoints.items() if name.startswith(prefix)])


# --- real detectors find what we claim -------------------------------------------------------

def test_charuco_detector_finds_every_marker_and_corner_at_keypoints():
    p = segmenty.load_pattern("charuco:5x7")
    assert p.spec == "charuco:5x7:DICT_6X6_250:25"
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_6X6_250)
    board = cv2.aruco.CharucoBoard((5, 7), 1.0, 0.5, dictionary)
    corners, ids, _marker_corners, marker_ids = cv2.aruco.CharucoDetector(board).detectBoard(gray(p))
    assert sorted(marker_ids.ravel()) == list(range(5 * 7 // 2))
    assert sorted(ids.ravel()) == list(range(4 * 6))
    for (x, y), corner_id in zip(corners.reshape(-1, 2), ids.ravel()):
        ours = p.keypoints[f"charuco_{corner_id:03d}"]
        assert np.hypot(x - ours[0], y - ours[1]) < 1.0, corner_id


@pytest.mark.parametrize("spec, size, flag", [
    ("circles:7x5", (7, 5), cv2.CALIB_CB_SYMMETRIC_GRID),
    ("circles:4x11:asym", (4, 11), cv2.CALIB_CB_ASYMMETRIC_GRID),
])
def test_find_circles_grid_finds_the_circles_at_keypoints(spec, size, flag):
    p = segmenty.load_pattern(spec)
    found, centres = cv2.findCirclesGrid(gray(p), size, flags=flag)
    assert found
    centres = centres.reshape(-1, 2)
    ours = keypoints_starting(p, "circle_")
    assert len(ours) == size[0] * size[1]
    if np.linalg.norm(centres[0] - ours[0]) > np.linalg.norm(centres[0] - ours[-1]):
        centres = centres[::-1]  # OpenCV may start from the opposite corner
    assert np.abs(centres - ours).max() < 1.0


# --- every built-in pattern keeps the Pattern contract ---------------------------------------

@pytest.mark.parametrize("spec", BUILT_IN_SPECS)
def test_built_in_masks_binary_and_sheet_sized_outline_on_mask(spec):
    p = segmenty.load_pattern(spec)
    h, w = p.image.shape[:2]
    assert p.image.dtype == np.uint8 and p.image.shape == (h, w, 3)
    for name, mask in p.masks.items():
        assert mask.dtype == bool and mask.shape == (h, w) and mask.any(), name
    ys, xs = np.nonzero(p.masks["mask"])
    # Every built-in `mask` is an axis-aligned rectangle whose outline runs along its pixel edges.
    assert p.masks["mask"].sum() == (np.ptp(xs) + 1) * (np.ptp(ys) + 1)
    assert p.keypoints["outline_tl"] == (xs.min() - 0.5, ys.min() - 0.5)
    assert p.keypoints["outline_br"] == (xs.max() + 0.5, ys.max() + 0.5)
    assert list(p.keypoints)[:5] == [*OUTLINE_KEYPOINTS, "center"]
    points = p.keypoint_array()
    assert (points >= -0.5).all() and (points[:, 0] <= w - 0.5).all() and (points[:, 1] <= h - 0.5).all()
    assert segmenty.load_pattern(p.spec).spec == p.spec  # the canonical spec builds it again


@pytest.mark.parametrize("spec, part", [
    ("chessboard:10x7", "corners"), ("charuco:5x7", "corners"), ("circles:7x5", "circles"),
])
def test_part_masks_cover_their_keypoints(spec, part):
    p = segmenty.load_pattern(spec)
    prefix = {"corners": ("corner_", "charuco_"), "circles": ("circle_",)}[part]
    points = [xy for name, xy in p.keypoints.items() if name.startswith(prefix)]
    assert points
    for x, y in points:
        assert p.masks[part][int(round(y)), int(round(x))]


def test_circles_mask_is_exactly_the_black_pixels_and_inside_the_outline():
    p = segmenty.load_pattern("circles:4x11:asym")
    assert np.array_equal(p.masks["circles"], gray(p) < 128)
    assert not (p.masks["circles"] & ~p.masks["mask"]).any()


@pytest.mark.parametrize("spec, square_mm", [
    ("chessboard:10x7:25", 25.0), ("chessboard:9x6:17.3", 17.3), ("charuco:5x7:30", 30.0),
])
@pytest.mark.parametrize("dpi", [100, 300, 72])
def test_whole_pixel_squares_keep_the_physical_scale(spec, square_mm, dpi):
    p = segmenty.load_pattern(spec, dpi)
    assert p.grid.spacing_px / p.dpi * 25.4 == pytest.approx(square_mm)


# --- spec parsing --------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, canonical", [
    ("chessboard", "chessboard:10x7:25"),
    ("charuco:5x7:6x6_250", "charuco:5x7:DICT_6X6_250:25"),
    ("charuco:5x7:dict_4x4_50:30", "charuco:5x7:DICT_4X4_50:30"),
    ("charuco:5x7:30", "charuco:5x7:DICT_6X6_250:30"),
    ("circles:4x11:ASYM:15", "circles:4x11:asym:15"),
    ("circles:7x5:12", "circles:7x5:sym:12"),
])
def test_specs_parse_to_canonical_form(spec, canonical):
    assert segmenty.load_pattern(spec).spec == canonical


@pytest.mark.parametrize("name, hint", [
    ("logoo", "; did you mean the folder 'logo'?"),
    ("charcuo", "; did you mean 'charuco'?"),
    ("chessboards", "; did you mean 'chessboard' or the folder 'chessboard_a4'?"),
    ("lgs", "; did you mean the folder 'logo'?"),  # ./logs is closer, but not a pattern folder
    ("zzz", ""),
])
def test_a_bare_unknown_name_is_neither_a_kind_nor_a_folder(tmp_path, monkeypatch, name, hint):
    make_folder(tmp_path / "logo")
    make_folder(tmp_path / "chessboard_a4")
    (tmp_path / "logs").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as info:
        segmenty.load_pattern(name)
    assert str(info.value) == (f"unknown pattern '{name}': neither a pattern kind (charuco, chessboard, "
                               f"circles, segmenty) nor a pattern folder (none of that name here){hint}")


@pytest.mark.parametrize("spec, needles", [
    ("chessbord:10x7", ["did you mean 'chessboard'", "try 'chessboard:10x7'"]),
    ("charcuo", ["did you mean 'charuco'"]),
    ("chessboard:1x0", ["too small"]),
    ("charuco:5x7:DICT_7X7_999", ["unknown ArUco dictionary 'DICT_7X7_999'", "did you mean 'DICT_7X7_", "DICT_6X6_250"]),
    ("charuco:5x7:25:DICT_4X4_50", ["unexpected field 'DICT_4X4_50'"]),
    ("charuco:30x30:DICT_4X4_50", ["needs 450 markers", "has only 50"]),
    ("circles:4x11:asim", ["did you mean 'asym'"]),
    ("circles:4x11:asym:0", ["out of range"]),
    ("chessboard:100x100:1000", ["pixels, more than"]),
    ("segmenty:1", ["takes no fields"]),
])
def test_bad_specs_name_the_problem(spec, needles):
    with pytest.raises(UsageError) as info:
        segmenty.load_pattern(spec)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.text(max_size=30),
    st.builds(lambda kind, fields: ":".join([kind, *fields]),
              st.sampled_from(sorted(PATTERN_KINDS)),
              st.lists(st.text(string.ascii_letters + string.digits + "x._-", max_size=8), max_size=4)),
))
def test_any_spec_string_fails_only_with_segmenty_errors(spec):
    if "/" in spec or spec.startswith(".") or Path(spec.replace("\0", "")).exists():
        return  # paths are folder patterns, tested below
    try:
        pattern = segmenty.load_pattern(spec, dpi=20)  # low dpi keeps random valid boards fast
    except SegmentyError as exc:
        assert "\n" not in str(exc)
    else:
        assert "mask" in pattern.masks


# --- user pattern folders ------------------------------------------------------------------

def make_folder(root: Path, *, yaml_text: str | None = None, masks: dict | None = None,
                sheet: str = "png") -> Path:
    """A 120x80 sheet with a black 80x60 rectangle, its mask, and optional yaml."""
    root.mkdir(parents=True, exist_ok=True)
    if sheet == "png":
        image = np.full((80, 120, 3), 255, np.uint8)
        image[10:70, 20:100] = 0
        Image.fromarray(image).save(root / "pattern.png")
    elif sheet == "svg":
        # 1.2 x 0.8 inch: 120 x 80 px at the default 100 dpi.
        (root / "pattern.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" width="1.2in" height="0.8in" viewBox="0 0 120 80">'
            '<rect x="20" y="10" width="80" height="60" fill="black"/></svg>')
    if masks is None:
        rectangle = np.zeros((80, 120), np.uint8)
        rectangle[10:70, 20:100] = 255
        masks = {"mask": rectangle}
    if masks:
        (root / "masks").mkdir(exist_ok=True)
        for name, mask in masks.items():
            Image.fromarray(mask).save(root / "masks" / f"{name}.png")
    if yaml_text is not None:
        (root / "pattern.yaml").write_text(yaml_text)
    return root


@pytest.mark.parametrize("sheet", ["png", "svg"])
def test_folder_pattern_round_trip(tmp_path, sheet):
    middle = np.zeros((80, 120), np.uint8)
    middle[30:50, 50:70] = 255
    rectangle = np.zeros((80, 120), np.uint8)
    rectangle[10:70, 20:100] = 255
    folder = make_folder(tmp_path / "pat", sheet=sheet, masks={"mask": rectangle, "middle": middle},
                         yaml_text="size_mm: [60, 40]\nkeypoints:\n  dot: [59.5, 39.5]\n")
    p = segmenty.load_pattern(str(folder))
    assert p.image.shape == (80, 120, 3)
    assert np.array_equal(gray(p) < 128, rectangle > 0)  # the SVG renders to the same pixels
    assert p.mask_names == ["mask", "middle"]
    assert p.size_mm == (60.0, 40.0) and p.dpi == pytest.approx(120 / (60 / 25.4))
    assert p.outline.tolist() == [[19.5, 9.5], [99.5, 9.5], [99.5, 69.5], [19.5, 69.5]]
    assert p.keypoints["center"] == (59.5, 39.5) and p.keypoints["dot"] == (59.5, 39.5)


def test_folder_defaults_whole_sheet_mask_and_size_from_dpi(tmp_path):
    folder = make_folder(tmp_path / "pat", masks={}, yaml_text="dpi: 50\n")
    p = segmenty.load_pattern(str(folder))
    assert p.masks["mask"].all()
    assert p.outline.tolist() == [[-0.5, -0.5], [119.5, -0.5], [119.5, 79.5], [-0.5, 79.5]]
    assert p.size_mm == pytest.approx((120 / 50 * 25.4, 80 / 50 * 25.4))


def test_a_masks_transparency_is_outside_and_a_sheets_is_paper(tmp_path):
    # A mask drawn white on a transparent layer, and a sheet whose paper is transparent.
    folder = make_folder(tmp_path / "pat", masks={})
    (folder / "masks").mkdir()
    rectangle = np.zeros((80, 120, 4), np.uint8)
    rectangle[10:70, 20:100] = 255
    Image.fromarray(rectangle, "RGBA").save(folder / "masks" / "mask.png")
    sheet = np.zeros((80, 120, 4), np.uint8)
    sheet[10:70, 20:100, 3] = 255  # opaque black inside, transparent outside
    Image.fromarray(sheet, "RGBA").save(folder / "pattern.png")
    p = segmenty.load_pattern(str(folder))
    assert np.array_equal(p.masks["mask"], rectangle[..., 3] > 0)  # not the whole sheet
    assert np.array_equal(gray(p) < 128, rectangle[..., 3] > 0)  # black on white paper
    # an opaque mask reads as before: white inside, black outside
    Image.fromarray(rectangle[..., 0], "L").save(folder / "masks" / "mask.png")
    assert np.array_equal(segmenty.load_pattern(str(folder)).masks["mask"], rectangle[..., 3] > 0)


def test_folder_outline_fits_a_rotated_quadrilateral(tmp_path):
    mask = np.zeros((80, 120), np.uint8)
    corners = np.array([[30, 10], [100, 20], [90, 70], [20, 60]], np.int32)
    cv2.fillPoly(mask, [corners], 255)
    p = segmenty.load_pattern(str(make_folder(tmp_path / "pat", masks={"mask": mask})))
    assert np.abs(p.outline - corners).max() <= 1.5  # clockwise from top-left


@pytest.mark.parametrize("setup, needle", [
    ("missing", "no such pattern folder"),
    ("no_sheet", "a folder without pattern.png"),
    ("both", "both pattern.png and pattern.svg"),
    ("small_mask", "expected 120x80"),
    ("empty_mask", "mask is empty"),
    ("jpeg_mask", "masks must be PNG"),
    ("svg_mask", "disc.svg: masks must be PNG files the size of the sheet (120x80 px, white inside), e.g. disc.png"),
    ("other_file", "notes.txt: masks must be PNG"),
    ("bad_yaml", "not valid YAML"),
    ("unknown_key", "did you mean 'size_mm'"),
    ("bad_size", "size_mm must be two positive numbers"),
    ("aspect", "aspect ratio"),
    ("far_keypoint", "lies outside the 120x80 image"),
    ("bad_svg", "cannot render SVG"),
    ("svg_no_size", "<svg> has no width, so the sheet has no physical size"),
    ("svg_relative_size", 'width="100%" is not a usable physical size'),
    ("file", "is a file"),
])
def test_folder_errors_name_the_file(tmp_path, setup, needle):
    folder = tmp_path / "pat"
    if setup == "no_sheet":
        make_folder(folder, sheet="none")
    elif setup == "both":
        make_folder(folder)
        make_folder(folder, sheet="svg")
    elif setup == "small_mask":
        make_folder(folder, masks={"mask": np.full((40, 60), 255, np.uint8)})
    elif setup == "empty_mask":
        make_folder(folder, masks={"middle": np.zeros((80, 120), np.uint8)})
    elif setup == "jpeg_mask":
        make_folder(folder)
        Image.new("L", (120, 80), 255).save(folder / "masks" / "part.jpg")
    elif setup == "svg_mask":  # was dropped silently: the pattern had no 'disc' mask
        make_folder(folder, sheet="svg")
        (folder / "masks" / "disc.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" width="1.2in" height="0.8in"><circle cx="60" cy="40" r="20"/></svg>')
    elif setup == "other_file":
        make_folder(folder)
        (folder / "masks" / "notes.txt").write_text("the disc is the logo's centre")
    elif setup == "bad_svg":
        folder.mkdir()
        (folder / "pattern.svg").write_text("<svg")
    elif setup == "svg_no_size":  # resvg would make it a 10x10 px sheet from the viewBox
        folder.mkdir()
        (folder / "pattern.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"/>')
    elif setup == "svg_relative_size":
        folder.mkdir()
        (folder / "pattern.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" width="100%" height="100%" viewBox="0 0 10 10"/>')
    elif setup == "file":
        folder.write_text("not a folder")
    elif setup != "missing":
        make_folder(folder, yaml_text={
            "bad_yaml": "size_mm: [1, 2\n",
            "unknown_key": "size_mn: [60, 40]\n",
            "bad_size": "size_mm: [60, -1]\n",
            "aspect": "size_mm: [60, 60]\n",
            "far_keypoint": "keypoints: {dot: [500, 10]}\n",
        }[setup])
    with pytest.raises(SegmentyError) as info:
        segmenty.load_pattern(str(folder))
    message = str(info.value)
    assert needle in message and "\n" not in message
    assert str(folder) in message


def test_huge_svg_is_refused_before_it_is_rendered(tmp_path, monkeypatch):
    # resvg aborts the process (no exception) when the canvas cannot be allocated.
    import resvg_py

    def render(**kwargs):
        raise AssertionError("rendered")

    monkeypatch.setattr(resvg_py, "svg_to_bytes", render)
    folder = tmp_path / "pat"
    folder.mkdir()
    (folder / "pattern.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="100000mm" height="200cm" viewBox="0 0 10 10"/>')
    with pytest.raises(SegmentyError, match=r"renders to 393701x7875 pixels at 100 dpi, more than 120,000,000"):
        segmenty.load_pattern(str(folder))


# --- printable sheets at true scale ----------------------------------------------------------

def read_pdf_page(data: bytes):
    """(MediaBox, image placement matrix, decoded image pixels) of a one-image PDF page."""
    media_box = [float(v) for v in re.search(rb"/MediaBox \[([^\]]*)\]", data).group(1).split()]
    matrix = [float(v) for v in re.search(rb"q ([\d. ]+) cm /Im0 Do Q", data).group(1).split()]
    header = re.search(rb"/Subtype /Image /Width (\d+) /Height (\d+) /ColorSpace /(\w+) "
                       rb"/BitsPerComponent (\d+) /Filter /FlateDecode /Length (\d+) >>\nstream\n", data)
    w, h, colour, bits, length = (header.group(1), header.group(2), header.group(3), header.group(4), header.group(5))
    w, h, bits, length = int(w), int(h), int(bits), int(length)
    raw = np.frombuffer(zlib.decompress(data[header.end():header.end() + length]), np.uint8)
    if bits == 1:
        pixels = np.unpackbits(raw.reshape(h, -1), axis=1)[:, :w] * 255
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    else:
        assert colour == b"DeviceRGB"
        pixels = raw.reshape(h, w, 3)
    return media_box, matrix, pixels


@pytest.mark.parametrize("spec, dpi", [("chessboard:10x7:25", 300), ("segmenty", 100)])
def test_pdf_page_is_the_physical_size_with_the_exact_pixels(tmp_path, spec, dpi):
    out = tmp_path / "sheet.pdf"
    assert write_pattern(spec, out, dpi=dpi) == [out]
    p = segmenty.load_pattern(spec, dpi)
    media_box, matrix, pixels = read_pdf_page(out.read_bytes())
    page_mm = (media_box[2] / 72 * 25.4, media_box[3] / 72 * 25.4)
    assert media_box[:2] == [0, 0] and page_mm == pytest.approx(p.size_mm, abs=1e-4)
    assert matrix == [media_box[2], 0, 0, media_box[3], 0, 0]  # the image fills the page
    assert np.array_equal(pixels, p.image)


def test_pdf_of_a_25mm_chessboard_prints_25mm_squares(tmp_path):
    out = tmp_path / "board.pdf"
    write_pattern("chessboard:10x7:25", out, dpi=300)
    media_box, _matrix, pixels = read_pdf_page(out.read_bytes())
    mm_per_pixel = media_box[2] / 72 * 25.4 / pixels.shape[1]
    row = pixels[pixels.shape[0] // 2, :, 0] < 128  # through the middle of a row of squares
    starts = np.flatnonzero(np.diff(row.astype(int)) == 1) + 1
    ends = np.flatnonzero(np.diff(row.astype(int)) == -1) + 1
    black_squares_mm = (ends - starts) * mm_per_pixel
    assert len(black_squares_mm) == 5
    assert black_squares_mm == pytest.approx(np.full(5, 25.0), abs=1e-6)
    assert np.diff(starts) * mm_per_pixel == pytest.approx(np.full(4, 50.0), abs=1e-6)
    assert media_box[2] / 72 * 25.4 == pytest.approx(300.0) and media_box[3] / 72 * 25.4 == pytest.approx(225.0)


@pytest.mark.parametrize("width, height", [("210mm", "297mm"), ("200mm", "150mm"), ("8.5in", "11in")])
def test_an_svg_sheet_is_the_size_it_declares(tmp_path, width, height):
    """An A4 SVG renders to 827x1170 px at 100 dpi (resvg rounds up): the sheet is still A4,
    printed A4 (it was 210.058 x 297.18 mm, with a warning that it is larger than A4)."""
    import warnings

    folder = tmp_path / "pat"
    folder.mkdir()
    (folder / "pattern.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
                                        f'height="{height}" viewBox="0 0 40 30"><rect width="20" height="15"/></svg>')
    in_mm = {"mm": 1.0, "in": 25.4}
    declared = tuple(float(v[:-2]) * in_mm[v[-2:]] for v in (width, height))
    assert segmenty.load_pattern(str(folder)).size_mm == pytest.approx(declared, abs=1e-9)
    out = tmp_path / "sheet.pdf"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "larger than A4 and Letter"
        write_pattern(str(folder), out)
    media_box, _matrix, _pixels = read_pdf_page(out.read_bytes())
    assert (media_box[2] / 72 * 25.4, media_box[3] / 72 * 25.4) == pytest.approx(declared, abs=1e-5)


@pytest.mark.parametrize("spec", ["chessboard:10x7:25", "circles:4x11:asym", "segmenty"])
def test_svg_is_sized_in_mm_and_renders_to_the_pattern_pixels(tmp_path, spec):
    out = tmp_path / "sheet.svg"
    write_pattern(spec, out, dpi=100)
    p = segmenty.load_pattern(spec, 100)
    root = ET.fromstring(out.read_bytes())
    for attribute, mm in zip(("width", "height"), p.size_mm):
        assert root.get(attribute).endswith("mm") and float(root.get(attribute)[:-2]) == pytest.approx(mm, abs=1e-3)
    # Rendered one user unit per pixel, the drawing reproduces the pattern's pixels exactly.
    h, w = p.image.shape[:2]
    in_pixels = re.sub(r'width="[^"]*mm" height="[^"]*mm"', f'width="{w}" height="{h}"', out.read_text(), count=1)
    png = resvg_py.svg_to_bytes(svg_string=in_pixels)
    rendered = np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB"))
    assert np.array_equal(rendered, p.image)


def test_png_carries_its_dpi_and_masks_are_written_beside(tmp_path):
    out = tmp_path / "board.png"
    paths = write_pattern("chessboard:10x7:25", out, dpi=200, masks=True)
    assert [path.name for path in paths] == ["board.png", "board_mask.png", "board_corners.png"]
    p = segmenty.load_pattern("chessboard:10x7:25", 200)
    with Image.open(out) as im:
        assert im.info["dpi"][0] == pytest.approx(p.dpi, abs=0.1)
        assert np.array_equal(np.asarray(im.convert("RGB")), p.image)
    with Image.open(paths[2]) as im:
        assert np.array_equal(np.asarray(im) > 0, p.masks["corners"])
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


@pytest.mark.parametrize("name, needle", [
    ("sheet.pgn", "did you mean '.png'"),
    ("file/sheet.png", "cannot write"),
    ("sheet", "unknown format '(none)'"),
    ("folder", "is a folder"),
])
def test_write_pattern_refuses_bad_outputs(tmp_path, name, needle):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("a file where a folder would be needed")
    with pytest.raises(SegmentyError, match=re.escape(needle)):
        write_pattern("chessboard:4x3", tmp_path / name)
