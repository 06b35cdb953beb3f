"""The main job (`segmenty demo`) end to end, in seconds instead of minutes: it trains, labels
the shipped real photos with OpenCV, evaluates and writes the report."""
import json

from segmenty.cli import main


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--minutes", "0.05"]) == 0
    printed = capsys.readouterr().out
    assert "mean IoU" in printed and "false detections" in printed and "report:" in printed
    # beside the detector trained in seconds, the one that ships, on the same photos
    assert printed.count("mean IoU") == 2 and "The detector shipped for chessboards, no training" in printed
    run = out / "run"
    for name in ("config.json", "model.pt", "best.pt", "best.onnx", "log.csv", "report.html", "eval/eval.json",
                 "eval/gallery.jpg"):
        assert (run / name).is_file(), name  # best.onnx: training ends with the CPU export
    # the shipped photos watched during training, from the untrained network on
    snapshots = sorted(p.name for p in (run / "snapshots").iterdir())
    assert snapshots[0] == "0000000" and len(snapshots) >= 2
    summary = json.loads((run / "eval" / "eval.json").read_text())["summary"]
    assert summary["photos"] >= 3 and summary["negatives"] == 2  # labelled by OpenCV, scored
    assert json.loads((run / "config.json").read_text())["pattern"].startswith("chessboard:10x7")
