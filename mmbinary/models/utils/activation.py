"""Activation builder of the binary blocks: per-channel activations get their channel count."""

import copy

from mmcv.cnn import build_activation_layer
from torch import nn

CHANNEL_ARG = {'PReLU': 'num_parameters', 'Maxout': 'num_channels', 'RPReLU': 'num_channels'}


def build_act(act_cfg: dict, channels: int) -> nn.Module:
    """Build an activation; per-channel ones (PReLU, Maxout, RPReLU) get ``channels``.

    Args:
        act_cfg (dict): activation config, e.g. ``dict(type='PReLU')``.
        channels (int): channels of the input, used by per-channel activations only.

    Example:
        >>> from mmbinary.models.utils import build_act
        >>> build_act(dict(type='PReLU'), 16).weight.shape
        torch.Size([16])
    """
    cfg = copy.deepcopy(act_cfg)
    arg = CHANNEL_ARG.get(cfg['type'].split('.')[-1])
    if arg is not None:
        cfg.setdefault(arg, channels)
    return build_activation_layer(cfg)
