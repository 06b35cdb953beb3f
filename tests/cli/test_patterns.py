"""``segmenty patterns`` and ``segmenty pattern``: what a user types and reads."""
import re
import subprocess
import sys

import pytest

from segmenty.cli import main
from segmenty.patterns import PATTERN_KINDS


def test_patterns_lists_every_kind_with_examples(capsys):
    assert main(["patterns"]) == 0
    out = capsys.readouterr().out
    for kind in PATTERN_KINDS.values():
        assert re.search(rf"^{kind.name}\s", out, re.M), kind.name
        for example in kind.examples:
            assert example in out
    assert "FOLDER" in out


@pytest.mark.parametrize("name, options", [
    ("board.pdf", []),  # the default 300 dpi
    ("board.svg", ["--dpi", "100"]),
    ("board.png", ["--dpi", "100"]),
])
def test_pattern_writes_the_sheet(tmp_path, capsys, name, options):
    out = tmp_path / name
    assert main(["pattern", "chessboard:10x7", "--out", str(out), *options]) == 0
    assert capsys.readouterr().out.split() == [str(out)]
    assert out.stat().st_size > 0


@pytest.mark.parametrize("spec, warning", [
    ("chessboard:10x7", "chessboard:10x7:25: the sheet is 300 x 225 mm, larger than A4 and Letter: print it at "
                        "100% (not 'fit to page', which shrinks the squares) on larger paper, or ask for smaller "
                        "squares in the spec (chessboard:10x7:23 fits A4)"),
    ("circles:4x11:asym:30", "or ask for a smaller spacing in the spec (circles:4x11:asym:21 fits Letter)"),
    ("chessboard:10x7:23", None),  # what the warning suggests fits
    ("segmenty", None),  # a Letter page
    ("circles:7x5", None),
])
def test_a_sheet_larger_than_a4_and_letter_is_written_with_a_warning(tmp_path, capsys, spec, warning):
    out = tmp_path / "board.svg"
    assert main(["pattern", spec, "--out", str(out), "--dpi", "100"]) == 0
    assert out.is_file()
    err = capsys.readouterr().err
    if warning is None:
        assert err == ""
    else:
        assert err.count("\n") == 1 and err.startswith("segmenty: warning: ") and warning in err


def test_pattern_masks_are_listed_beside_the_sheet(tmp_path, capsys):
    out = tmp_path / "grid.pdf"
    assert main(["pattern", "circles:4x11:asym", "--out", str(out), "--dpi", "100", "--masks"]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(out), str(tmp_path / "grid_mask.png"), str(tmp_path / "grid_circles.png")]


def exit_code(argv: list[str]) -> int:
    """The status `segmenty ARGV` exits with (argparse's own errors raise SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("spec, options, needles, code", [
    ("chessbord:10x7", [], ["unknown pattern 'chessbord'", "try 'chessboard:10x7'"], 2),
    ("chessboard:1x0", [], ["pattern 'chessboard:1x0'", "too small"], 2),
    ("charuco:5x7:DICT_7X7_999", [], ["unknown ArUco dictionary 'DICT_7X7_999'", "did you mean 'DICT_7X7_"], 2),
    ("{tmp}", [], ["{tmp}: a folder without pattern.png"], 1),
    ("{tmp}/missing", [], ["{tmp}/missing: no such pattern folder"], 1),
    ("chessboard:10x7", ["--dpi", "0"], ["--dpi", "must be a positive number"], 2),
    ("chessboard:10x7", ["--dpi", "5"], ["--dpi 5 is out of range"], 2),
])
def test_wrong_input_exits_nonzero_with_one_line(tmp_path, capsys, spec, options, needles, code):
    out = tmp_path / "x.pdf"
    assert exit_code(["pattern", spec.replace("{tmp}", str(tmp_path)), "--out", str(out), *options]) == code
    err = capsys.readouterr().err.replace(str(tmp_path), "{tmp}")
    assert err.count("\n") == 1 and err.startswith("segmenty")
    for needle in needles:
        assert needle in err
    assert not out.exists()


@pytest.mark.parametrize("out, needle", [("x.jpg", "unknown format '.jpg'"), (".", "is a folder")])
def test_bad_out_is_a_usage_error(tmp_path, capsys, out, needle):
    assert main(["pattern", "chessboard:4x3", "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err


def test_installed_command_reports_a_misspelling_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-c", "from segmenty.cli import run; run()",
                             "pattern", "chessbord:10x7", "--out", str(tmp_path / "x.pdf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "try 'chessboard:10x7'" in result.stderr
