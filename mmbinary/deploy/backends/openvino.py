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

``binary_kernel='native'`` writes every binary conv / transposed conv as one ``MMBinaryConv``
node (domain ``mmbinary``) of the extension library in :mod:`mmbinary.ops.openvino_ext`, which
runs mmbinary's native 1-bit kernel: the input sign, the folded scale / bias and AdaBin's terms
are inside the node, and a following residual ``Add`` (and a ``PRelu`` after it) are fused into
it. Each :class:`~mmbinary.deploy.DeployedBinaryConv` is traced as a *marker*: a plain conv of
the layer's real input and geometry whose constant weight is the layer's marker value
(``MARKER_BASE + index``) everywhere, found after conversion by that value and replaced by the
node built from the layer's own buffers. Binary linears stay float matmuls on +/-1 constants.
"""

from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..utils import require

PRECISIONS = ('f32', 'bf16', 'int8')
BF16_WARNING = (
    'warning: a bf16 real part rounds the residual stream that the explicit signs read; a '
    'trained binary network can lose its accuracy where the CPU runs bf16 (AVX512_BF16 / AMX; '
    'measured: the coco_tiny SBPN-18 went from AP 0.969 in f32 to 0.000). Check the AP of the '
    'export, or use --precision f32 / int8.'
)
BINARY_KERNELS = ('openvino', 'native', 'auto')
OP_TYPE = 'MMBinaryConv'
MARKER_BASE = 4096.0  # marker weights: MARKER_BASE + layer index, exact in float32


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


def _mark(net):
    """A copy of ``net`` whose binary convs are marker convs, and the original layers in order.

    Returns:
        ``(marked, layers)``: ``layers[i]`` is ``(path, DeployedBinaryConv, activation)`` of
        marker ``i``; ``activation`` is what :func:`fuse_blocks` fused into it (``prelu``,
        ``pre_shift``, ``post_shift``, ``pos_slope`` as float32 ``[O]`` or None), or None.
    """
    import copy

    import torch
    import torch.nn.functional as F
    from torch import nn

    from ..converter import DeployedBinaryConv

    class Marker(nn.Module):
        """A conv of the layer's input and geometry, weights all ``MARKER_BASE + index``.

        It has :class:`~mmbinary.ops.torch_ops.NativeBinaryConv`'s epilogue interface, so
        :func:`~mmbinary.ops.torch_ops.fuse_blocks` fuses the shortcut add and the activation
        of Bi-Real units into it: the trace then holds conv + add, and the activation's
        parameters (``prelu``, ``pre_shift``, ``post_shift``, ``pos_slope``) go into the node.
        """

        fuses_epilogue = True
        sign_output = False

        def __init__(self, layer, index):
            super().__init__()
            self.layer = layer  # read for its geometry; its buffers go unused in the trace
            self.kind, self.scale = layer.kind, layer.scale
            self.prelu = self.pre_shift = self.post_shift = self.pos_slope = None
            self.register_buffer('marker', torch.full(layer.code.shape, MARKER_BASE + index))

        def forward(self, x, residual=None):
            y = self._conv(x)
            return y if residual is None else y + residual

        def _conv(self, x):
            m = self.layer
            if m.kind == 'conv2d':
                return F.conv2d(x, self.marker, None, m.stride, m.padding, m.dilation, m.groups)
            return F.conv_transpose2d(
                x,
                self.marker,
                None,
                m.stride,
                m.padding,
                m.output_padding,
                m.groups,
                m.dilation,
            )

    from mmbinary.ops.torch_ops import fuse_blocks

    marked = copy.deepcopy(net)
    if isinstance(marked, DeployedBinaryConv):  # the layer alone: give it a parent
        marked = nn.Sequential(marked)
    layers, markers = [], []
    for path, module in list(marked.named_modules()):
        if isinstance(module, DeployedBinaryConv) and module.kind != 'linear':
            parent, _, name = path.rpartition('.')
            owner = marked.get_submodule(parent) if parent else marked
            markers.append(Marker(module, len(layers)))
            setattr(owner, name, markers[-1])
            layers.append((path, module))
    fuse_blocks(marked)
    epilogues = [_fused_activation(m) for m in markers]
    return marked, [(path, layer, act) for (path, layer), act in zip(layers, epilogues)]


def _fused_activation(marker) -> Optional[dict]:
    """The activation fuse_blocks put into a marker (numpy ``[O]`` arrays), or None."""
    names = ('prelu', 'pre_shift', 'post_shift', 'pos_slope')
    act = {n: getattr(marker, n) for n in names}
    if all(v is None for v in act.values()):
        return None
    return {n: None if v is None else v.detach().float().numpy().copy() for n, v in act.items()}


_CONV_TYPES = (
    'Convolution',
    'GroupConvolution',
    'ConvolutionBackpropData',
    'GroupConvolutionBackpropData',
)


def _marker_index(node) -> Optional[int]:
    """The marker index of a converted marker conv, or None for any other node."""
    if node.get_type_name() not in _CONV_TYPES:
        return None
    src = node.input_value(1).get_node()
    if src.get_type_name() != 'Constant':
        return None
    w = src.get_data()
    first = float(w.reshape(-1)[0])
    index = first - MARKER_BASE
    if index < 0 or index != int(index) or not np.all(w == w.reshape(-1)[0]):
        return None
    return int(index)


def _direct_geometry(layer):
    """Attributes of the direct conv that the kernel runs for a deployed conv / transposed conv."""
    from ..converter import DeployError

    kh, kw = layer.code.shape[2:]
    if layer.kind == 'conv2d':
        pads = list(layer.padding)
        return dict(
            strides=list(layer.stride),
            dilations=list(layer.dilation),
            pads_begin=pads,
            pads_end=pads,
            input_dilations=[1, 1],
        )
    # transposed (packed format v1): input dilated by the stride, padding d (k - 1) - p
    begin = [d * (k - 1) - p for d, k, p in zip(layer.dilation, (kh, kw), layer.padding)]
    if min(begin) < 0:
        raise DeployError(
            f'native binary kernel: a transposed conv with padding {layer.padding} larger than '
            f'dilation x (kernel - 1) = {[b + p for b, p in zip(begin, layer.padding)]} has no '
            'direct form here; export with --binary-kernel openvino'
        )
    return dict(
        strides=[1, 1],
        dilations=list(layer.dilation),
        pads_begin=begin,
        pads_end=[b + o for b, o in zip(begin, layer.output_padding)],
        input_dilations=list(layer.stride),
    )


def _fusable_residual(node):
    """``(add, residual)`` if the node's only reader adds a tensor of the output's shape."""
    targets = list(node.output(0).get_target_inputs())
    if len(targets) != 1:
        return None
    add = targets[0].get_node()
    if add.get_type_name() != 'Add':
        return None
    other = add.input_value(1 - targets[0].get_index())
    shape = node.get_output_partial_shape(0)
    if not (shape.is_static and other.get_partial_shape() == shape):
        return None
    if other.get_element_type().get_type_name() != 'f32':
        return None
    return add, other


def _upsampled(value, out_shape) -> Optional[tuple]:
    """``(source, s)`` if ``value`` is a nearest upsampling by a power of two ``s`` of
    ``source`` (NCHW, height and width alike: what ``nn.Upsample(scale_factor=s)`` converts
    to), exactly ``source[y // s, x // s]``; else None."""
    node = value.get_node()
    if node.get_type_name() != 'Interpolate':
        return None
    attrs = node.get_attributes()
    if (
        attrs.get('mode') != 'nearest'
        or attrs.get('coordinate_transformation_mode') != 'asymmetric'
        or attrs.get('nearest_mode') != 'floor'
        or any(attrs.get('pads_begin', [0]))
        or any(attrs.get('pads_end', [0]))
    ):
        return None
    source = node.input_value(0)
    small = source.get_partial_shape()
    if not (small.is_static and out_shape.is_static):
        return None
    small, big = small.to_shape(), out_shape.to_shape()
    if len(small) != 4 or small[0] != big[0] or small[1] != big[1] or small[2] == 0:
        return None
    up = big[2] // small[2]
    if up < 2 or up & (up - 1) or small[2] * up != big[2] or small[3] * up != big[3]:
        return None
    return source, up


def _constant(output) -> Optional[np.ndarray]:
    node = output.get_node()
    return np.asarray(node.get_data()) if node.get_type_name() == 'Constant' else None


def _per_channel(value: Optional[np.ndarray], out_channels: int) -> Optional[np.ndarray]:
    """A constant as ``float32 [O]`` if it is a scalar or one value per channel, else None."""
    if value is None or value.ndim > 4:
        return None
    flat = value.astype(np.float32).reshape(-1)
    if flat.size == 1:
        return np.full(out_channels, flat[0], np.float32)
    if flat.size == out_channels and (value.ndim == 1 or value.shape[-3:] == (out_channels, 1, 1)):
        return flat
    return None


def _fusable_prelu(node, out_channels: int):
    """``(last, slope [O])`` if the node's output only feeds a PReLU with a constant slope.

    Two forms: OpenVINO's ``PRelu``, and the decomposition that the PyTorch front end writes
    for ``nn.PReLU``: ``Select(Greater(y, 0), y, Multiply(y, slope))``.
    """
    readers = [t.get_node() for t in node.output(0).get_target_inputs()]
    types = sorted(r.get_type_name() for r in readers)
    if types == ['PRelu']:
        slope = _per_channel(_constant(readers[0].input_value(1)), out_channels)
        return None if slope is None else (readers[0], slope)
    if types != ['Greater', 'Multiply', 'Select']:
        return None
    by_type = {r.get_type_name(): r for r in readers}
    gt, mul, sel = by_type['Greater'], by_type['Multiply'], by_type['Select']
    y = node.output(0)
    zero = _constant(gt.input_value(1))
    if gt.input_value(0) != y or zero is None or zero.size != 1 or float(zero.reshape(-1)[0]):
        return None
    ins = list(mul.input_values())
    other = ins[1] if ins[0] == y else ins[0] if ins[1] == y else None
    slope = None if other is None else _per_channel(_constant(other), out_channels)
    if slope is None or [sel.input_value(i) for i in (1, 2)] != [y, mul.output(0)]:
        return None
    if sel.input_value(0) != gt.output(0):
        return None
    if len(gt.output(0).get_target_inputs()) != 1 or len(mul.output(0).get_target_inputs()) != 1:
        return None
    return sel, slope


def _native_node(
    factory,
    x,
    layer,
    residual=None,
    prelu=None,
    layout='NCHW',
    pre_shift=None,
    post_shift=None,
    pos_slope=None,
    residual_upsample=1,
):
    from ..packing import pack_code

    opset = require('openvino').opset13
    packed, cin_per_group = pack_code(layer.kind, layer.code, layer.groups)
    weight = np.ascontiguousarray(packed, dtype='<u8').view(np.uint8)  # [O, kh, kw, 8 words]
    out_channels = layer.out_channels
    inputs = [x, opset.constant(weight).output(0)]
    terms = ('scale', 'bias', 'window_scale', 'mask_scale', 'mask_window_scale')
    for name in terms:
        value = getattr(layer, name)
        if value is not None:
            inputs.append(opset.constant(value.numpy().astype(np.float32)).output(0))
    if residual is not None:
        inputs.append(residual)
    for extra in (prelu, pre_shift, post_shift, pos_slope):
        if extra is not None:
            inputs.append(opset.constant(np.asarray(extra, np.float32)).output(0))
    attrs = dict(
        in_channels=cin_per_group * layer.groups,
        out_channels=out_channels,
        kernel=list(packed.shape[1:3]),
        groups=layer.groups,
        threshold=float(layer.threshold),
        has_window_scale=int(layer.window_scale is not None),
        has_mask_scale=int(layer.mask_scale is not None),
        has_mask_window_scale=int(layer.mask_window_scale is not None),
        has_residual=int(residual is not None),
        has_prelu=int(prelu is not None),
        has_pre_shift=int(pre_shift is not None),
        has_post_shift=int(post_shift is not None),
        has_pos_slope=int(pos_slope is not None),
        layout=layout,
        residual_upsample=int(residual_upsample),
        **_direct_geometry(layer),
    )
    return factory.create(OP_TYPE, inputs, attrs)


def rewrite_native(model, layers, fuse: bool = True, layout: str = 'NHWC') -> List[str]:
    """Replace each marker conv of ``model`` by an ``MMBinaryConv`` node, in place.

    Args:
        model: the converted model of a :func:`_mark`-ed network.
        layers: ``[(path, DeployedBinaryConv, activation)]`` of the markers, by marker index
            (:func:`_mark`); an activation fused there goes into the node with the shortcut
            add after the marker.
        fuse (bool): fuse a following residual ``Add`` and ``PRelu`` into the node; with
            ``'NHWC'``, a residual that is a nearest upsampling by a power of two (the Bi-Real
            shortcut of a binary deconv, ``nn.Upsample``) is read at its own size
            (``residual_upsample``) instead of being upsampled into memory.
        layout (str): the nodes' memory layout. ``'NHWC'`` (default): each node reads and
            writes NHWC behind ``Transpose`` nodes; between two native nodes the pair cancels
            here, and next to a real layer OpenVINO folds it into its own nhwc layout, so no
            reorder is paid. ``'NCHW'``: planar in and out (OpenVINO reorders to and from
            every node that borders a real layer).

    Returns:
        The paths of the rewritten layers.

    Raises:
        DeployError: a marker was not found intact after conversion (OpenVINO folded something
            into it); the message names the layers.
    """
    from mmbinary.ops import openvino_ext

    from ..converter import DeployError

    if layout not in ('NCHW', 'NHWC'):
        raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
    opset = require('openvino').opset13
    factory = openvino_ext.node_factory()
    to_nchw = {}  # output of a Transpose back to NCHW that we wrote -> the node's NHWC output
    to_nhwc = {}  # a value's Transpose to NHWC, one per value (x and residual are often one)

    def nhwc(value):
        key = value.get_node().get_friendly_name(), value.get_index()
        source = to_nchw.get(key)
        if source is not None and source[0] == value:
            return source[1]  # the pair NHWC -> NCHW -> NHWC cancels
        if key not in to_nhwc or to_nhwc[key][0] != value:
            order = opset.constant(np.array([0, 2, 3, 1], np.int64))
            to_nhwc[key] = (value, opset.transpose(value, order).output(0))
        return to_nhwc[key][1]

    found = {}
    for node in model.get_ordered_ops():
        index = _marker_index(node)
        if index is not None and index < len(layers):
            found.setdefault(index, []).append(node)
    missing = [layers[i][0] for i in range(len(layers)) if len(found.get(i, [])) != 1]
    if missing:
        raise DeployError(
            'native binary kernel: these binary layers were changed by the OpenVINO conversion '
            f'and cannot be replaced by MMBinaryConv: {missing}; export with '
            '--binary-kernel openvino'
        )
    for index, (path, layer, fused) in enumerate(layers):
        (marker,) = found[index]
        x = marker.input_value(0)
        last, residual, act = marker, None, dict(fused or {})
        if fuse or fused:
            add = _fusable_residual(marker)
            if add is not None:
                last, residual = add[0], add[1]
                if not fused:  # a PReLU node after the add (fuse_blocks did not take it)
                    found_prelu = _fusable_prelu(last, layer.out_channels)
                    if found_prelu is not None:
                        last, act['prelu'] = found_prelu
            elif fused:  # its activation was taken out of the trace: it must go in here
                raise DeployError(
                    f'native binary kernel: the shortcut add after {path} was not found intact '
                    'after the OpenVINO conversion, so its fused activation has nowhere to go; '
                    'export with --binary-kernel openvino'
                )
        if layout == 'NCHW':
            node = _native_node(factory, x, layer, residual=residual, **act)
            node.set_friendly_name(last.get_friendly_name())
            last.output(0).replace(node.output(0))
            continue
        up = 1
        if residual is not None:  # a nearest-upsampled shortcut: read small, never written
            found_up = _upsampled(residual, marker.get_output_partial_shape(0))
            if found_up is not None:
                residual, up = found_up
        node = _native_node(
            factory,
            nhwc(x),
            layer,
            residual=None if residual is None else nhwc(residual),
            layout='NHWC',
            residual_upsample=up,
            **act,
        )
        node.set_friendly_name(last.get_friendly_name() + '/nhwc')
        back = opset.transpose(node.output(0), opset.constant(np.array([0, 3, 1, 2], np.int64)))
        back.set_friendly_name(last.get_friendly_name())
        last.output(0).replace(back.output(0))
        to_nchw[back.get_friendly_name(), 0] = (back.output(0), node.output(0))
    model.validate_nodes_and_infer_types()
    return [entry[0] for entry in layers]


def chain_bits(model) -> int:
    """Pass packed bits between chained ``MMBinaryConv`` nodes instead of floats, in place.

    Where a node's output (NHWC, one group) is the input ``x`` of other ``MMBinaryConv`` nodes
    (NHWC, one group) with one and the same threshold, the producer also writes the output's
    bits in its epilogue (``bits_output=1``, ``bits_threshold``: the readers' threshold) and the
    readers take them as their input (``bits_input=1``): they skip reading and packing the
    floats. The float output stays for its other readers (a shortcut add fused into the next
    node, a real layer). Results are unchanged bit for bit (the bits are the packing's).

    Returns:
        The number of nodes that now read bits.
    """
    from mmbinary.ops import openvino_ext

    factory = openvino_ext.node_factory()

    def chainable(node):
        if node.get_type_name() != OP_TYPE:
            return None
        attrs = node.get_attributes()
        return attrs if attrs['layout'] == 'NHWC' and int(attrs['groups']) == 1 else None

    # nodes are matched by friendly name below: a name that is not unique takes no part
    counts = Counter(op.get_friendly_name() for op in model.get_ordered_ops())
    unique = {name for name, n in counts.items() if n == 1}
    producers, readers = {}, set()  # producer name -> threshold; names of the readers
    for node in model.get_ordered_ops():
        if chainable(node) is None or node.get_friendly_name() not in unique:
            continue
        found = []
        for target in node.output(0).get_target_inputs():
            reader = target.get_node()
            attrs = chainable(reader)
            if attrs is None or target.get_index() != 0 or attrs['bits_input']:
                continue
            if reader.get_friendly_name() not in unique:  # not safely addressable: no bits
                found = []
                break
            found.append((reader.get_friendly_name(), float(attrs['threshold'])))
        if found and len({t for _, t in found}) == 1:
            producers[node.get_friendly_name()] = found[0][1]
            readers.update(name for name, _ in found)
    count = 0
    for node in model.get_ordered_ops():  # producers first: a reader's input is already new
        name = node.get_friendly_name()
        if name not in producers and name not in readers:
            continue
        attrs = node.get_attributes()
        inputs = list(node.input_values())
        if name in producers:
            attrs.update(bits_output=1, bits_threshold=producers[name])
        if name in readers:
            attrs['bits_input'] = 1
            inputs[0] = inputs[0].get_node().output(1)
            count += 1
        new = factory.create(OP_TYPE, inputs, attrs)
        new.set_friendly_name(name)
        node.output(0).replace(new.output(0))
    model.validate_nodes_and_infer_types()
    return count


def auto_binary_kernel(exact_int8: bool = False, log=print) -> Tuple[str, str]:
    """``(kernel, why)``: the faster 1-bit kernel for this machine, as measured (README, Deploy).

    ``'native'`` where the ``MMBinaryConv`` extension builds and its kernel runs the AVX-512
    path (there it beat ``BinaryConvolution`` end to end for both SBPN-18 heads); else
    ``'openvino'``: on the AVX2 and portable paths OpenVINO's own kernel was as fast or faster
    with the real head, and exact-INT8 exports are a ``BinaryConvolution``-side form.
    """
    if exact_int8:
        return 'openvino', 'the exact-INT8 form was asked for'
    from mmbinary.ops import openvino_ext

    ok, reason = openvino_ext.available(log=log)
    if not ok:
        return 'openvino', f'the native extension cannot be built here: {reason}'
    try:
        isa = openvino_ext.kernel_isa()
    except (openvino_ext.NativeKernelUnavailable, OSError) as e:
        return 'openvino', f'the native kernel cannot run here: {e}'
    if isa.split('+')[0] != 'avx512':
        return 'openvino', f'the native kernel runs its {isa} path here, not faster end to end'
    return 'native', f'the native kernel runs its {isa} path here'


def export(
    net,
    example,
    out_dir: str,
    precision: str = 'f32',
    exact_int8: bool = False,
    calibration: Optional[list] = None,
    binary_kernel: str = 'openvino',
    log=print,
    chain: bool = True,
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
        binary_kernel (str): ``'openvino'`` (``BinaryConvolution``), ``'native'``
            (``MMBinaryConv`` of :mod:`mmbinary.ops.openvino_ext`; if that extension cannot be
            built here, one message is logged and the export falls back to ``'openvino'``) or
            ``'auto'`` (:func:`auto_binary_kernel`: the faster of the two on this machine,
            logged with the reason).
        chain (bool): with the native kernel, pass packed bits between chained nodes
            (:func:`chain_bits`); ``False`` keeps floats between them (for comparison).

    Returns:
        ``dict(files=[...], binary_convs=N, binary_kernel=...)``: the kernel actually written.
    """
    import os.path as osp

    import torch

    ov = require('openvino')
    if precision not in PRECISIONS:
        raise ValueError(
            f'openvino back end: precision must be one of {list(PRECISIONS)}, got {precision!r}'
        )
    if binary_kernel not in BINARY_KERNELS:
        raise ValueError(
            f'openvino back end: binary_kernel must be one of {list(BINARY_KERNELS)}, '
            f'got {binary_kernel!r}'
        )
    if precision == 'bf16':
        log(BF16_WARNING)
    if binary_kernel == 'native' and exact_int8:
        raise ValueError(
            'openvino back end: exact_int8 and binary_kernel native are two different forms of '
            'the binary convs; choose one'
        )
    if binary_kernel == 'auto':
        binary_kernel, why = auto_binary_kernel(exact_int8, log=log)
        log(f'binary kernel auto: {binary_kernel} ({why})')
    if binary_kernel == 'native':
        from mmbinary.ops import openvino_ext

        ok, reason = openvino_ext.available(log=log)
        if not ok:
            log(f'native binary kernel unavailable, writing BinaryConvolution instead: {reason}')
            binary_kernel = 'openvino'
    layers = None
    traced = net.eval()
    if binary_kernel == 'native':
        traced, layers = _mark(traced)
    with torch.no_grad():
        program = torch.export.export(traced, (example,), strict=False)
    model = ov.convert_model(program)
    model.reshape(list(example.shape))  # static: OpenVINO's 1-bit kernel needs it
    if layers is not None:
        rewritten = rewrite_native(model, layers)
    else:
        rewritten = rewrite_binary_convs(model, exact_int8=exact_int8)
    if precision == 'int8':
        fold_pooled_shortcuts(model)
        model = quantize_real_part(model, calibration, log=log)
    if layers is not None and chain:  # after NNCF, which need not know the bits
        chain_bits(model)
    ov.save_model(model, osp.join(out_dir, 'model.xml'), compress_to_fp16=False)
    return dict(
        files=['model.xml', 'model.bin'], binary_convs=len(rewritten), binary_kernel=binary_kernel
    )


def fold_pooled_shortcuts(model) -> int:
    """Fold ``AvgPool(k x k, stride k)`` followed by a 1x1 ``Convolution`` (Bi-Real's
    downsampling shortcut) into one ``k x k`` stride-``k`` convolution of weights ``w / k^2``.

    The same function: the mean of a window times ``w`` is the sum of the window times
    ``w / k^2`` (float rounding aside). Folded only where no window is partial or padded (no
    pads, the input size a multiple of ``k``, so ``ceil`` and ``floor`` rounding and
    ``exclude-pad`` agree) and the pool feeds that conv alone. For an INT8 real part: the
    pooling pass is gone and the conv runs on the INT8 kernels (k^2 times the MACs of the 1x1
    conv, a few per cent of the network's); in f32 those MACs would cost more than the pooling.

    Returns the number of folded pairs.
    """
    ov = require('openvino')
    opset = ov.opset13
    folded = 0
    for pool in list(model.get_ordered_ops()):
        if pool.get_type_name() != 'AvgPool':
            continue
        a = pool.get_attributes()
        shape = pool.input_value(0).get_partial_shape()
        if len(a['kernel']) != 2 or not shape.is_static or len(shape) != 4:
            continue
        kh, kw = a['kernel']
        h, w = shape.to_shape()[2:]
        if (
            list(a['strides']) != [kh, kw]
            or any(a['pads_begin'])
            or any(a['pads_end'])
            or a.get('auto_pad', 'explicit') not in ('explicit', 'notset', 'valid')
            or h % kh
            or w % kw
        ):
            continue
        readers = list(pool.output(0).get_target_inputs())
        if len(readers) != 1:
            continue
        conv = readers[0].get_node()
        if conv.get_type_name() != 'Convolution' or readers[0].get_index() != 0:
            continue
        weight = _constant(conv.input_value(1))
        c = conv.get_attributes()
        if (
            weight is None
            or weight.ndim != 4
            or weight.shape[2:] != (1, 1)
            or list(c['strides']) != [1, 1]
            or any(c['pads_begin'])
            or any(c['pads_end'])
            or list(c['dilations']) != [1, 1]
        ):
            continue
        kernel = np.repeat(np.repeat(weight / np.float32(kh * kw), kh, axis=2), kw, axis=3)
        new = opset.convolution(
            pool.input_value(0),
            opset.constant(kernel.astype(weight.dtype)),
            [kh, kw],
            [0, 0],
            [0, 0],
            [1, 1],
        )
        new.set_friendly_name(conv.get_friendly_name())
        conv.output(0).replace(new.output(0))
        folded += 1
    return folded


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


def _is_native(op) -> bool:
    return op.get_type_name() == OP_TYPE and op.get_output_partial_shape(0).is_static


def _binary_macs(op) -> int:
    """Binary MACs of one ``MMBinaryConv`` call: outputs x inputs per group x valid taps (a
    transposed conv's direct form counts the taps that meet no inserted zero: kh kw / s^2)."""
    a = op.get_attributes()
    outputs = int(np.prod(op.get_output_partial_shape(0).to_shape()))
    kh, kw = a['kernel']
    sh, sw = a['input_dilations']
    return int(outputs * (a['in_channels'] // a['groups']) * kh * kw // (sh * sw))


class OpenVINORunner:
    """A compiled export: ``runner(x) -> np.ndarray``.

    Args:
        xml (str): ``model.xml`` of an export.
        precision (str): the export's real-part precision (``bf16`` sets the compile hint).
        threads (int, optional): ``INFERENCE_NUM_THREADS``.
        extensions (list[str]): extension libraries to load first (``MMBinaryConv``).
        perf_count (bool): compile with ``PERF_COUNT`` so :meth:`node_times` can say where the
            time goes (adds a little overhead per node).

    Attributes:
        binary_macs (dict): ``{node name: binary MACs per call}`` of its ``MMBinaryConv`` nodes.
    """

    def __init__(
        self,
        xml: str,
        precision: str = 'f32',
        threads: Optional[int] = None,
        extensions: Sequence[str] = (),
        perf_count: bool = False,
    ):
        ov = require('openvino')
        core = ov.Core()
        for path in extensions:  # before read_model: the IR's custom ops need them
            core.add_extension(path)
        config = {'INFERENCE_PRECISION_HINT': 'bf16' if precision == 'bf16' else 'f32'}
        if threads:
            config['INFERENCE_NUM_THREADS'] = int(threads)
        self.perf_count = bool(perf_count)
        if perf_count:
            config['PERF_COUNT'] = True
        model = core.read_model(xml)
        # the IR's op types by name: a custom op (MMBinaryConv) runs as a 'Reference' node
        self._ir_types = {op.get_friendly_name(): op.get_type_name() for op in model.get_ops()}
        self.binary_macs = {
            op.get_friendly_name(): _binary_macs(op) for op in model.get_ops() if _is_native(op)
        }
        self.compiled = core.compile_model(model, 'CPU', config)
        self.threads = int(self.compiled.get_property('INFERENCE_NUM_THREADS'))
        # what the CPU runs: a CPU without bf16 support (e.g. AVX2 only) keeps f32 for a bf16 hint
        hint = self.compiled.get_property('INFERENCE_PRECISION_HINT')
        self.runtime_precision = hint.get_type_name()
        self.request = self.compiled.create_infer_request()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return self.request.get_output_tensor(0).data.copy()

    def node_times(self) -> list:
        """``[(node name, node type, kernel, microseconds)]`` of the last call, nodes that ran.

        A node the CPU plugin runs as ``Reference`` (a custom op such as ``MMBinaryConv``) is
        given its IR op type. Needs ``perf_count=True``.
        """
        if not self.perf_count:
            raise RuntimeError('node_times() needs a runner built with perf_count=True')
        out = []
        for p in self.request.profiling_info:
            if p.status != p.Status.EXECUTED:
                continue
            kind = p.node_type
            if kind == 'Reference':
                kind = self._ir_types.get(p.node_name, kind)
            out.append((p.node_name, kind, p.exec_type, p.real_time.total_seconds() * 1e6))
        return out
