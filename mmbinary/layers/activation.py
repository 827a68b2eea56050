"""Per-channel activation bricks of binary networks.

* :class:`LearnableBias` (ReActNet's RSign/RPReLU shift): ``y = x + b_c``.
* :class:`RPReLU` (ReActNet, Liu et al. ECCV 2020): ``y = PReLU_c(x - gamma_c) + zeta_c``.
* :class:`Maxout` (AdaBin [official code]): ``y = g+_c ReLU(x) - g-_c ReLU(-x)``, with
  ``g+ = 1`` and ``g- = 0.25`` at initialisation.

Channels are dimension 1 (NC... layout).
"""

import torch
from torch import nn

from mmbinary.binarizers.base import check_positive
from mmbinary.registry import MODELS


def _per_channel(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return p.view((1, -1) + (1,) * (x.dim() - 2))


def _check_channels(owner: str, num_channels: int) -> int:
    if not isinstance(num_channels, int) or isinstance(num_channels, bool):
        raise TypeError(f'{owner}: num_channels must be an int, got {num_channels!r}')
    return check_positive(owner, 'num_channels', num_channels)


@MODELS.register_module()
class LearnableBias(nn.Module):
    """``y = x + b`` with one learnable ``b`` per channel (init 0)."""

    def __init__(self, num_channels: int):
        super().__init__()
        self.num_channels = _check_channels(type(self).__name__, num_channels)
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + _per_channel(x, self.bias)

    def extra_repr(self) -> str:
        return f'num_channels={self.num_channels}'


@MODELS.register_module()
class RPReLU(nn.Module):
    """``y = PReLU(x - gamma) + zeta`` per channel (ReActNet).

    Args:
        num_channels (int): number of channels.
        init (float): initial negative slope of the PReLU. Default 0.25 (as ``nn.PReLU``).
    """

    def __init__(self, num_channels: int, init: float = 0.25):
        super().__init__()
        self.num_channels = _check_channels(type(self).__name__, num_channels)
        self.shift_in = nn.Parameter(torch.zeros(num_channels))
        self.prelu = nn.PReLU(num_channels, init=init)
        self.shift_out = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(x - _per_channel(x, self.shift_in))
        return x + _per_channel(x, self.shift_out)

    def extra_repr(self) -> str:
        return f'num_channels={self.num_channels}'


@MODELS.register_module()
class Maxout(nn.Module):
    """``y = g+ ReLU(x) - g- ReLU(-x)`` per channel (AdaBin).

    Args:
        num_channels (int): number of channels.
        pos_init (float): initial ``g+``. Default 1.
        neg_init (float): initial ``g-``. Default 0.25.
    """

    def __init__(self, num_channels: int, pos_init: float = 1.0, neg_init: float = 0.25):
        super().__init__()
        self.num_channels = _check_channels(type(self).__name__, num_channels)
        self.pos_scale = nn.Parameter(torch.full((num_channels,), float(pos_init)))
        self.neg_scale = nn.Parameter(torch.full((num_channels,), float(neg_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = _per_channel(x, self.pos_scale) * torch.relu(x)
        return pos - _per_channel(x, self.neg_scale) * torch.relu(-x)

    def extra_repr(self) -> str:
        return f'num_channels={self.num_channels}'
