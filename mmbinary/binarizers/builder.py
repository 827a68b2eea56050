"""Build a binarizer from a config, a name, a module or ``None`` (full precision)."""

from typing import Optional, Union

from torch import nn

from mmbinary.registry import BINARIZERS

BinarizerCfg = Union[None, str, dict, nn.Module]


def available_binarizers():
    """Sorted names of every registered binarizer."""
    return sorted(BINARIZERS.module_dict)


def build_binarizer(cfg: BinarizerCfg) -> Optional[nn.Module]:
    """Build a binarizer.

    Args:
        cfg: ``None`` (full precision: the layer keeps real values), a registered name such as
            ``'ApproxSign'``, a config dict such as ``dict(type='EDE', t=0.1)``, or an already
            built module (used as is, e.g. to share one binarizer between layers).

    Raises:
        KeyError: an unknown ``type``; the message lists the registered binarizers.
    """
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    if isinstance(cfg, str):
        cfg = dict(type=cfg)
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(
            f'a binarizer config must be None, a name or a dict with "type", got {cfg!r}'
        )
    name = cfg['type']
    if isinstance(name, str):
        name = name.split('.')[-1]  # accept 'mmbinary.ApproxSign'
        if name not in BINARIZERS.module_dict:
            raise KeyError(
                f'unknown binarizer type {cfg["type"]!r}; available: '
                + ', '.join(available_binarizers())
            )
        cfg = dict(cfg, type=name)
    # ``_scope_`` pins the lookup to mmbinary whatever the runner's default scope is.
    return BINARIZERS.build(dict(cfg, _scope_='mmbinary'))
