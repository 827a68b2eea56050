"""The plain model config behind a training-only wrapper (distillation, latent weights)."""

import copy
from typing import Sequence


def unwrap_model_config(
    model_cfg: dict, wrapper: str, plain_type: str, wrapper_keys: Sequence[str]
) -> dict:
    """A copy of ``model_cfg`` with ``type=plain_type`` and no ``wrapper_keys`` if its type is
    ``wrapper`` (or ``'mmbinary.' + wrapper``); otherwise an unchanged copy.

    Checkpoints of the wrapper hold the plain model only, so they load into this config for
    testing, inference, counting and export.
    """
    cfg = copy.deepcopy(dict(model_cfg))
    if cfg.get('type') in (wrapper, f'mmbinary.{wrapper}'):
        cfg['type'] = plain_type
        for key in wrapper_keys:
            cfg.pop(key, None)
    return cfg
