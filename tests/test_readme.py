"""The README's Python code blocks run as a user would paste them, at tiny sizes: only the
training budget is swapped for two steps (the test says which text it replaces, so a README
edit that drops it fails here rather than silently running ten minutes), and what a block
leaves to the user is provided: a photo.jpg, frames of a video, an `image`, and the
calib/camera.json that `segmenty calibrate` writes."""
import re
import shutil
from pathlib import Path

import pytest

import segmenty

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLE = Path(segmenty.__file__).parent / "assets" / "examples" / "chessboard-10x7" / "calibration2.jpg"
# What the test makes tiny, and into what.
TINY = {"minutes=10": 'steps=2, size=64, model="unet-xs", val_count=2, workers=0'}


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = python_blocks(README.read_text())
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLE, tmp_path / "photo.jpg")
    photo = segmenty.io.read_image(EXAMPLE)
    _calibration(tmp_path / "calib")
    spaces = []
    for block in blocks:
        for text, tiny in TINY.items():
            if "segmenty.fit(" in block:
                assert text in block, f"the README's training example no longer says {text}"
            block = block.replace(text, tiny)
        if re.search(r"workers=[2-9]", block):
            # worker processes are spawned and import the script again: unguarded, they die
            assert 'if __name__ == "__main__":' in block, "a README block with workers has no main guard"
        space = {"__name__": "__main__", "image": photo, "frames": [photo] * 2}  # run as a script
        exec(compile(block, str(README), "exec"), space)
        spaces.append(space)
    # what the blocks promise: predictions of the photo at its size, a run that ends exported
    # for CPU prediction, the undistorted image at the image's size
    predictions = [s["prediction"] for s in spaces if "prediction" in s]
    assert predictions and all(p.masks["mask"].shape == photo.shape[:2] for p in predictions)
    trained = next(s for s in spaces if "run" in s)
    assert trained["sample"].image.shape == (160, 160, 3)
    assert (trained["run"].path / "best.onnx").is_file()  # training ends with the CPU export
    assert (trained["run"].path / "best.int8.onnx").is_file()  # and its int8 copy, which the CPU runs
    assert isinstance(trained["predictor"].backend, segmenty.predict.OnnxModel)
    assert trained["predictor"].backend.path.name == "best.int8.onnx"
    undistorted = [s["undistorted"] for s in spaces if "undistorted" in s]
    assert undistorted and undistorted[0].shape == photo.shape


def _calibration(folder: Path) -> None:
    """The files `segmenty calibrate` writes, for a camera solved from projected views."""
    from tests.calib.test_calibrate import LAYOUT, views

    from segmenty.calib import calibrate_views, write_camera
    write_camera(calibrate_views(views(noise=0.1), LAYOUT), folder)


@pytest.mark.parametrize("name", ["train", "predict", "synth", "viz"])
def test_stage_packages_are_attributes_of_segmenty(name):
    assert getattr(segmenty, name).__name__ == f"segmenty.{name}"
