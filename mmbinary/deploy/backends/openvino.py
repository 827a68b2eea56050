"""OpenVINO IR back end: ``BinaryConvolution`` for every binary conv, ordinary ops elsewhere.

The converted network (:func:`mmbinary.deploy.convert_model`) is traced with
:func:`torch.export.export` and converted by ``openvino.convert_model``; OpenVINO folds each
layer's per-channel scale into the weights of the conv that reads the explicit sign, so the
rewrite below looks for exactly that form, by structure (no names):

* a ``Convolution`` whose input is ``Select(cond, 1, -1)`` (a +/-1 tensor), and
* whose constant weight has one magnitude per output channel (``w[o] = m[o] code[o]``),

is replaced by ``BinaryConvolution(x, u1 code, mode='xnor-popcount', pad_value=0)`` times
``m[o]``. ``pad_value = 0`` is zero padding of the +/-1 input, the training semantics. The u1
weights are packed little-endian over the flattened ``[O, Cin, kh, kw]`` constant, bit 1 = +1.
Grouped binary convs, transposed binary convs and binary linears stay float convs / matmuls on
+/-1 constants (exact in f32; OpenVINO's BinaryConvolution has no groups and no transposed
form).

``exact_int8=True`` writes the *exact-INT8 form* instead: each binary conv as an INT8
convolution of +/-1 int8 weights and +/-1 activations (FakeQuantize with 256 levels on
[-128, 127], which keeps +/-1 exact), so that OpenVINO runs it on its INT8 kernels
(AMX / VNNI) with integer accumulation.
"""

from typing import Dict, List, Optional

import numpy as np

from ..utils import require

PRECISIONS = ('f32', 'bf16', 'int8')


def _is_pm1_select(node) -> bool:
    if node.get_type_name() != 'Select':
        return False
    values = []
    for i in (1, 2):
        src = node.input_value(i).get_node()
        if src.get_type_name() != 'Constant':
            return False
        v = src.get_data()
        if v.size != 1:
            return False
        values.append(float(v.reshape(-1)[0]))
    return values == [1.0, -1.0]


def _binary_weight(conv):
    """``(code, magnitude)`` if the conv's constant weight is ``m[o] * (+/-1)``, else None."""
    src = conv.input_value(1).get_node()
    if src.get_type_name() != 'Constant':
        return None
    w = np.asarray(src.get_data(), dtype=np.float32)
    rows = np.abs(w.reshape(w.shape[0], -1))
    magnitude = rows[:, 0]
    if not np.array_equal(rows, np.broadcast_to(magnitude[:, None], rows.shape)):
        return None
    return np.where(w >= 0, 1.0, -1.0).astype(np.float32), magnitude


def u1_constant(code: np.ndarray):
    """An ``ov.Type.u1`` constant of a {-1, +1} array (little-endian bits, bit 1 = +1)."""
    ov = require('openvino')
    tensor = ov.Tensor(ov.Type.u1, ov.Shape(list(code.shape)))
    packed = np.packbits((code.reshape(-1) >= 0).astype(np.uint8), bitorder='little')
    tensor.data[:] = packed.reshape(tensor.data.shape)
    return ov.op.Constant(tensor)


def _binary_convolution(data, code: np.ndarray, attrs: dict):
    """``BinaryConvolution`` with input channels padded to a multiple of 8.

    OpenVINO 2026.4's CPU kernel returns wrong sums when the input channels are not a multiple
    of 8 (measured: 12 / 13 / 37 / 65 channels wrong, 8 / 16 / 24 / 40 / 64 right). The input is
    padded with ``npad`` channels of +1 and the weights with +1, which adds exactly ``npad`` per
    valid (non-padded) tap; that count is a constant map of the static shape, subtracted after.
    """
    import torch
    import torch.nn.functional as F

    ov = require('openvino')
    opset = ov.opset13
    shape = list(data.get_partial_shape().to_shape())
    cin = shape[1]
    npad = -cin % 8
    if npad:
        ones = np.ones([shape[0], npad] + shape[2:], dtype=np.float32)
        data = opset.concat([data, opset.constant(ones)], axis=1)
        code = np.concatenate(
            [code, np.ones(code.shape[:1] + (npad,) + code.shape[2:], np.float32)], 1
        )
    conv = ov.opset1.binary_convolution(
        data,
        u1_constant(code),
        attrs['strides'],
        attrs['pads_begin'],
        attrs['pads_end'],
        attrs['dilations'],
        'xnor-popcount',
        0.0,
    )
    if not npad:
        return conv
    if list(attrs['pads_begin']) != list(attrs['pads_end']):
        raise NotImplementedError('asymmetric padding with channels not a multiple of 8')
    valid = F.conv2d(
        torch.ones([1, 1] + shape[2:]),
        torch.ones((1, 1) + code.shape[2:]),
        stride=list(attrs['strides']),
        padding=list(attrs['pads_begin']),
        dilation=list(attrs['dilations']),
    )
    return opset.subtract(conv, opset.constant((npad * valid).numpy()))


def rewrite_binary_convs(model, exact_int8: bool = False) -> List[str]:
    """Replace each float conv on +/-1 inputs and weights by its 1-bit form, in place.

    Returns:
        The friendly names of the rewritten convs.
    """
    ov = require('openvino')
    opset = ov.opset13
    rewritten = []
    for node in model.get_ordered_ops():
        if node.get_type_name() != 'Convolution':
            continue
        data = node.input_value(0)
        if not _is_pm1_select(data.get_node()):
            continue
        found = _binary_weight(node)
        if found is None:
            continue
        code, magnitude = found
        attrs = node.get_attributes()
        if exact_int8:
            low, high = opset.constant(np.float32(-128)), opset.constant(np.float32(127))
            xq = opset.fake_quantize(data, low, high, low, high, 256)
            w = opset.convert(opset.constant(code.astype(np.int8)), 'f32')
            conv = opset.convolution(
                xq, w, attrs['strides'], attrs['pads_begin'], attrs['pads_end'], attrs['dilations']
            )
        else:
            conv = _binary_convolution(data, code, attrs)
        scale = opset.constant(magnitude.reshape(1, -1, 1, 1).astype(np.float32))
        out = opset.multiply(conv, scale)
        out.set_friendly_name(node.get_friendly_name())
        node.output(0).replace(out.output(0))
        rewritten.append(node.get_friendly_name())
    model.validate_nodes_and_infer_types()
    return rewritten


def export(
    net,
    example,
    out_dir: str,
    precision: str = 'f32',
    exact_int8: bool = False,
    calibration: Optional[list] = None,
    log=print,
) -> Dict[str, object]:
    """Write ``model.xml`` / ``model.bin`` of a converted network for a static input shape.

    Args:
        net: a converted network (:func:`mmbinary.deploy.convert_model`).
        example (Tensor): an input of the static shape.
        out_dir (str): folder to write into.
        precision (str): real-part precision, ``'f32'``, ``'bf16'`` (a compile hint, stored in
            the export) or ``'int8'`` (NNCF post-training quantization of the real layers on
            ``calibration``; the 1-bit convs are left alone).
        exact_int8 (bool): write the exact-INT8 form of the binary convs.
        calibration (list[np.ndarray], optional): inputs for NNCF (``precision='int8'``).

    Returns:
        ``dict(files=[...], binary_convs=N)``.
    """
    import os.path as osp

    import torch

    ov = require('openvino')
    if precision not in PRECISIONS:
        raise ValueError(
            f'openvino back end: precision must be one of {list(PRECISIONS)}, got {precision!r}'
        )
    with torch.no_grad():
        program = torch.export.export(net.eval(), (example,), strict=False)
    model = ov.convert_model(program)
    model.reshape(list(example.shape))  # static: OpenVINO's 1-bit kernel needs it
    rewritten = rewrite_binary_convs(model, exact_int8=exact_int8)
    if precision == 'int8':
        model = quantize_real_part(model, calibration, log=log)
    ov.save_model(model, osp.join(out_dir, 'model.xml'), compress_to_fp16=False)
    return dict(files=['model.xml', 'model.bin'], binary_convs=len(rewritten))


def quantize_real_part(model, calibration, log=print):
    """NNCF post-training INT8 quantization of the real convs / matmuls only.

    Element-wise ops stay in float: a quantized residual add perturbs the value that the next
    explicit sign reads and flips signs near 0 (measured on a BBC ResNet-18: relative logit error
    0.70 with NNCF's defaults). The 1-bit convs are left alone.
    """
    nncf = require('nncf')
    if not calibration:
        raise ValueError('openvino back end: precision int8 needs calibration inputs')
    real = ('Convolution', 'GroupConvolution', 'ConvolutionBackpropData', 'MatMul')
    keep_float = sorted({n.get_type_name() for n in model.get_ordered_ops()} - set(real))
    log(f'NNCF: calibrating the real layers on {len(calibration)} inputs ...')
    return nncf.quantize(
        model,
        nncf.Dataset(calibration),
        subset_size=len(calibration),
        ignored_scope=nncf.IgnoredScope(types=keep_float, validate=False),
    )


class OpenVINORunner:
    """A compiled export: ``runner(x) -> np.ndarray``."""

    def __init__(self, xml: str, precision: str = 'f32', threads: Optional[int] = None):
        ov = require('openvino')
        core = ov.Core()
        config = {'INFERENCE_PRECISION_HINT': 'bf16' if precision == 'bf16' else 'f32'}
        if threads:
            config['INFERENCE_NUM_THREADS'] = int(threads)
        self.compiled = core.compile_model(core.read_model(xml), 'CPU', config)
        self.threads = int(self.compiled.get_property('INFERENCE_NUM_THREADS'))
        # what the CPU runs: a CPU without bf16 support (e.g. AVX2 only) keeps f32 for a bf16 hint
        hint = self.compiled.get_property('INFERENCE_PRECISION_HINT')
        self.runtime_precision = hint.get_type_name()
        self.request = self.compiled.create_infer_request()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return self.request.get_output_tensor(0).data.copy()
