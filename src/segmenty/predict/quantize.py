"""An integer (int8) copy of an exported network, for the CPU: the convolutions run in 8-bit
integers (onnxruntime's static quantization), about 2x faster than float32 on a CPU with
AVX-512 VNNI (benchmarks/README.md, "Speed, sixth round": the shipped detector's pass at
640x480 24 -> 16 ms on 2 cores, 1.5-2.1x by size; a photo without a board, looked at three
times, costs mostly that).

Static: each activation's range is measured once, on synthetic scenes the caller hands in
(`scenes`; `jobs.quantize_detector` makes them for a shipped detector from its own training
recipe), never on real photos. The head (every node from the first whose name holds
``/head/``: its convolutions, the resize to the input's size and the sigmoid) stays in float:
the masks are thresholded at 0.5 on its output, where 8-bit logits would move the decision at
every edge. A copy whose probabilities stray from the float model's on scenes it was not
calibrated on (`MAX_MEAN_DIFF`, `MAX_FLIPPED`) is refused, not written.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import SegmentyError
from ..io import atomic_path
from ..scores import MASK_THRESHOLD
from .onnx import OnnxModel

# The metadata key that marks the integer copy (its value: "int8").
PRECISION_KEY = "precision"

# Refused beyond these, on the check scenes: the mean |p_int8 - p_float| over every pixel and
# channel, and the share of pixels whose decision (p > MASK_THRESHOLD) differs. The shipped
# detector's copy: 0.0006 and 0.054% (`quantize_onnx` returns them; the job prints them).
MAX_MEAN_DIFF = 0.01
MAX_FLIPPED = 0.005

# Where the float part ends: nodes of the network's head module (ONNX names follow the
# PyTorch modules: /0/head/...; /0 is the network inside export_onnx's Sequential).
HEAD_MARK = "/head/"


def quantize_onnx(source: str | os.PathLike, out: str | os.PathLike, scenes: list[np.ndarray],
                  check: list[np.ndarray]) -> tuple[Path, dict]:
    """Write an int8 copy of the float ONNX model `source` to `out` (its metadata kept, plus
    ``precision: int8``), its activation ranges measured on `scenes` (1×3×H×W float32 in
    [0, 1], any sizes), then compared with `source` on `check`; returns the path and that
    comparison ({"mean_diff", "flipped"}). Raises SegmentyError, writing nothing, when the
    copy strays (MAX_MEAN_DIFF, MAX_FLIPPED) or the model has no head to keep in float."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, out = Path(source), Path(out)
    nodes = onnx.load(str(source)).graph.node  # in topological order, as exported
    first_head = next((i for i, n in enumerate(nodes) if HEAD_MARK in n.name), None)
    if first_head is None:
        raise SegmentyError(f"{source}: no '{HEAD_MARK}' nodes: not a segmenty network's export")
    keep_float = [n.name for n in nodes[first_head:]]

    class Scenes(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(scenes)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"image": np.ascontiguousarray(batch, np.float32)}

    with tempfile.TemporaryDirectory(prefix="segmenty-int8-") as tmp, atomic_path(out) as written:
        prepared = Path(tmp) / "prepared.onnx"
        # (The dynamic height and width defeat symbolic shape inference; ONNX's own suffices.)
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(written), Scenes(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep_float)
        model = onnx.load(str(written))
        # the source's metadata (mask names, pattern, ...) and the precision, not the tools' notes
        meta = {**OnnxModel(source, check_metadata=False).metadata, PRECISION_KEY: "int8"}
        del model.metadata_props[:]
        for key, value in meta.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(written))
        agreement = compare(OnnxModel(source, check_metadata=False), OnnxModel(written, check_metadata=False), check)
        if agreement["mean_diff"] > MAX_MEAN_DIFF or agreement["flipped"] > MAX_FLIPPED:
            raise SegmentyError(f"{source}: its int8 copy strays from it (mean probability difference "
                                f"{agreement['mean_diff']:.3g}, decisions flipped at {agreement['flipped']:.2%} "
                                f"of pixels; at most {MAX_MEAN_DIFF:g} and {MAX_FLIPPED:.1%}); not written")
    return out, agreement


def compare(reference: OnnxModel, other: OnnxModel, batches: list[np.ndarray]) -> dict:
    """How far `other`'s probabilities stray from `reference`'s on `batches`: the mean absolute
    difference and the share of pixels whose decision (p > MASK_THRESHOLD) differs."""
    diff = flipped = count = 0.0
    for batch in batches:
        a, b = reference.run(batch), other.run(batch)
        diff += float(np.abs(a - b).sum())
        flipped += float(np.count_nonzero((a > MASK_THRESHOLD) != (b > MASK_THRESHOLD)))
        count += a.size
    return {"mean_diff": diff / max(count, 1), "flipped": flipped / max(count, 1)}
