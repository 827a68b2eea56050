"""The packed 1-bit weight layout (format ``mmbinary-packed``, version 1) and a reference kernel.

Layout of one binary layer's code (docs/deploy.md has the full file format):

* conv ``[O, Cin/g, kh, kw]`` is stored as ``uint64 [O, kh, kw, words]`` with
  ``words = ceil((Cin/g) / 64)``: the packing axis is the input channels of the group;
* bit ``j`` of word ``w`` (little-endian bit order inside the word, words little-endian in the
  file) is input channel ``64 w + j``; bit 1 = +1, bit 0 = -1;
* the channels are padded to a multiple of 64 with bit 0 (read as ``uint32`` the same bytes
  give 32-channel words: padding to 64 implies padding to 32); a kernel pads the input bits with
  0 too, so padded channels never count (``xor`` of two zeros);
* a transposed conv ``[Cin, O/g, kh, kw]`` is stored as its equivalent direct conv kernel,
  ``k[o, i, u, v] = w[i, o, kh-1-u, kw-1-v]`` per group (input and output swapped, taps
  flipped), run on the input dilated by the stride with ``dilation (k - 1) - padding`` padding;
* linear ``[O, Cin]`` as ``uint64 [O, 1, 1, words]``.

The kernel's integer result over the valid (non-padded) taps is
``B * S = n_valid - 2 popcount(xor(x_bits, w_bits))`` with ``n_valid = (Cin/g) x (valid taps)``;
padded taps are skipped (zero padding of +/-1 inputs, the training semantics).
:func:`xnor_popcount_conv2d` implements exactly that in numpy, as the yardstick of a native
kernel.
"""

from typing import Tuple

import numpy as np
import torch

FORMAT_NAME = 'mmbinary-packed'
FORMAT_VERSION = 1
WORD_BITS = 64

_POPCOUNT8 = np.array([bin(i).count('1') for i in range(256)], dtype=np.int64)


def pack_bits(code: np.ndarray) -> np.ndarray:
    """Pack a {-1, +1} array along its last axis into little-endian ``uint64`` words.

    Args:
        code: array ``[..., C]`` of -1 / +1 (``>= 0`` counts as +1).

    Returns:
        ``uint64 [..., ceil(C / 64)]``; bit ``j`` of word ``w`` is element ``64 w + j``; padding
        bits are 0.

    Example:
        >>> import numpy as np
        >>> pack_bits(np.array([1, -1, 1, 1] + [-1] * 60 + [1]))
        array([13,  1], dtype=uint64)
    """
    code = np.asarray(code)
    channels = code.shape[-1]
    words = -(-channels // WORD_BITS)
    bits = np.zeros(code.shape[:-1] + (words * WORD_BITS,), dtype=np.uint8)
    bits[..., :channels] = code >= 0
    packed = np.packbits(bits, axis=-1, bitorder='little')  # [..., words * 8] bytes
    return np.ascontiguousarray(packed).view('<u8').reshape(code.shape[:-1] + (words,))


def unpack_bits(packed: np.ndarray, channels: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``float32`` {-1, +1} ``[..., channels]``."""
    packed = np.ascontiguousarray(packed, dtype='<u8')
    raw = packed.view(np.uint8).reshape(packed.shape[:-1] + (packed.shape[-1] * 8,))
    bits = np.unpackbits(raw, axis=-1, bitorder='little')[..., :channels]
    return bits.astype(np.float32) * 2 - 1


def direct_kernel(kind: str, code: torch.Tensor, groups: int) -> torch.Tensor:
    """The code as a direct conv kernel ``[O, Cin/g, kh, kw]`` (transposed convs flipped)."""
    if kind == 'linear':
        return code[:, :, None, None]
    if kind == 'conv2d':
        return code
    cin, opg, kh, kw = code.shape  # [Cin, O/g, kh, kw] -> per group [O/g, Cin/g, kh, kw]
    w = code.view(groups, cin // groups, opg, kh, kw).transpose(1, 2)
    return w.reshape(groups * opg, cin // groups, kh, kw).flip(-1, -2)


def pack_code(kind: str, code: torch.Tensor, groups: int) -> Tuple[np.ndarray, int]:
    """``(uint64 [O, kh, kw, words], Cin/g)``: the packed layout of a layer's code."""
    kernel = direct_kernel(kind, code, groups)
    return pack_bits(kernel.permute(0, 2, 3, 1).numpy()), kernel.shape[1]


def xnor_popcount_conv2d(
    x: np.ndarray,
    packed: np.ndarray,
    channels: int,
    stride=(1, 1),
    padding=(0, 0),
    dilation=(1, 1),
    groups: int = 1,
    input_dilation=(1, 1),
    padding_end=None,
) -> np.ndarray:
    """Reference XNOR-popcount conv on packed weights: ``conv2d(sign(x), code)`` as int64.

    Args:
        x: real input ``[N, C, H, W]``; its bits are ``x >= 0``.
        packed: ``uint64 [O, kh, kw, words]`` from :func:`pack_code`.
        channels: input channels per group (``Cin / g``).
        stride, padding, dilation, groups: of the direct conv.
        input_dilation: zeros inserted between input pixels (the stride of a transposed conv);
            inserted positions are skipped like padding.
        padding_end: bottom / right padding if it differs from ``padding`` (a transposed
            conv's ``output_padding`` adds to it).

    Returns:
        ``int64 [N, O, Ho, Wo]``.
    """
    n, c, h, w = x.shape
    o, kh, kw, words = packed.shape
    hd, wd = (h - 1) * input_dilation[0] + 1, (w - 1) * input_dilation[1] + 1
    ph, pw = padding
    eh, ew = padding if padding_end is None else padding_end
    hp, wp = hd + ph + eh, wd + pw + ew
    bits = pack_bits(x.reshape(n, groups, channels, h, w).transpose(0, 3, 4, 1, 2))
    grid = np.zeros((n, hp, wp, groups, words), dtype=np.uint64)
    valid = np.zeros((hp, wp), dtype=bool)
    rows = ph + np.arange(h) * input_dilation[0]
    cols = pw + np.arange(w) * input_dilation[1]
    grid[:, rows[:, None], cols[None, :]] = bits
    valid[rows[:, None], cols[None, :]] = True
    ho = (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, ho, wo), dtype=np.int64)
    group_of = np.arange(o) // (o // groups)
    for u in range(kh):
        for v in range(kw):
            r = u * dilation[0] + np.arange(ho) * stride[0]
            q = v * dilation[1] + np.arange(wo) * stride[1]
            tap = grid[:, r[:, None], q[None, :]][:, :, :, group_of]  # [N, Ho, Wo, O, words]
            mismatches = _popcount(tap ^ packed[None, None, None, :, u, v])
            mask = valid[r[:, None], q[None, :]]  # [Ho, Wo]
            out += (mask[None, :, :, None] * (channels - 2 * mismatches)).transpose(0, 3, 1, 2)
    return out


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits summed over the last axis of a ``uint64`` array."""
    as_bytes = np.ascontiguousarray(words).view(np.uint8)
    return _POPCOUNT8[as_bytes].reshape(words.shape[:-1] + (-1,)).sum(-1)
