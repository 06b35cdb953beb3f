"""Video files (segmenty.video): every Nth frame decoded in order, one frame by its index,
the annotated video written and read back, a file that is no video refused in one line."""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from segmenty.errors import SegmentyError
from segmenty.video import VideoWriter, is_video, open_video, read_video_frame, video_frames


def _frames(n=7):
    return [np.full((48, 64, 3), 30 * k, np.uint8) for k in range(n)]


def _write(path, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for f in frames:
        writer.write(f)
    writer.release()


def test_every_nth_frame_and_one_by_its_index(tmp_path):
    path = tmp_path / "clip.avi"
    _write(path, _frames())
    capture = open_video(str(path))
    got = list(video_frames(capture, every=3))
    capture.release()
    assert [i for i, _ in got] == [0, 3, 6]
    assert [int(round(f.mean())) for _, f in got] == pytest.approx([0, 90, 180], abs=3)
    assert np.array_equal(read_video_frame(path, 3), got[1][1])
    with pytest.raises(SegmentyError, match="frame 40"):
        read_video_frame(path, 40)


def test_what_is_a_video_and_what_cannot_be_opened(tmp_path):
    assert is_video("0") and is_video("a/clip.MP4") and not is_video("photo.jpg")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(SegmentyError, match="broken.mp4: cannot be opened as a video"):
        open_video(str(tmp_path / "broken.mp4"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(SegmentyError, match="empty.mp4: empty file"):
        open_video(str(tmp_path / "empty.mp4"))
    with pytest.raises(SegmentyError, match="missing.mp4: no such file"):
        open_video(str(tmp_path / "missing.mp4"))


def test_a_damaged_video_or_absent_camera_says_nothing_beside_the_error(tmp_path):
    """FFmpeg and OpenCV print to the process's own stderr (not Python's): a fresh process."""
    writer = VideoWriter(str(tmp_path / "clip.mp4"), fps=10)
    for f in _frames(8) * 4:
        writer.write(f)
    writer.close()
    (tmp_path / "cut.mp4").write_bytes((tmp_path / "clip.mp4").read_bytes()[:200])  # a copy cut short
    code = ("import sys\nfrom segmenty.video import open_video\nfor s in sys.argv[1:]:\n"
            "    try:\n        open_video(s)\n    except Exception as e:\n        print(e)\n")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "cut.mp4"), "97"], capture_output=True, text=True)
    assert res.stdout.count("cannot be opened") == 2 and res.stderr == "", res.stderr


def test_the_written_video_reads_back(tmp_path):
    writer = VideoWriter(str(tmp_path / "out.mp4"), fps=0)  # no fps known: 30
    for f in _frames(5):
        writer.write(f)
    writer.close()
    capture = open_video(str(tmp_path / "out.mp4"))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    assert len(list(video_frames(capture))) == 5
    capture.release()
