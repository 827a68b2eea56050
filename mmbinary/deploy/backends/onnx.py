"""ONNX back end (opset 17, runs in onnxruntime), for runtimes other than OpenVINO.

Each binary conv is the explicit sign ``Where(x >= t, 1, -1)`` (ONNX's ``Sign`` maps 0 to 0;
mmbinary's sign(0) is +1) followed by an ordinary ``Conv`` on +/-1 float constants, the
per-channel scale folded in. The file holds the 1-bit weights as float32 +/-1 (times the scale),
so it is no smaller than the FP32 model and runs at FP32 conv speed: it gains no speed, it is
the portable, exact form. For speed use the OpenVINO back end or the packed file with a native
1-bit kernel.
"""

import os.path as osp
import warnings
from typing import Dict, Optional

import numpy as np

from ..utils import require

OPSET = 17


def export(net, example, out_dir: str, precision: str = 'f32', **_) -> Dict[str, object]:
    """Write ``model.onnx`` of a converted network (static input shape)."""
    import torch

    require('onnx')
    if precision != 'f32':
        raise ValueError(f'onnx back end: precision must be f32, got {precision!r}')
    path = osp.join(out_dir, 'model.onnx')
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            net.eval(),
            (example,),
            path,
            opset_version=OPSET,
            dynamo=False,
            input_names=['input'],
            output_names=['output'],
        )
    return dict(files=['model.onnx'])


class ONNXRunner:
    """An onnxruntime session: ``runner(x) -> np.ndarray``."""

    def __init__(self, path: str, threads: Optional[int] = None):
        ort = require('onnxruntime')
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        self.threads = int(threads or 0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {'input': np.ascontiguousarray(x, dtype=np.float32)})[0]
