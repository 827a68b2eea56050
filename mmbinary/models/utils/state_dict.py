"""Keep a training-only submodule out of checkpoints, and accept checkpoints without it."""

from torch import nn


def exclude_from_state_dict(module: nn.Module, name: str):
    """``module.state_dict()`` leaves out the submodule ``name``; loading does not miss it.

    Used for training-only helpers that must be submodules (trained, moved by ``.to()``) but
    are not part of the model (the latent-weight classifier's auxiliary head): checkpoints hold
    the plain model and load into it.
    """
    prefix = f'{name}.'

    def drop(owner, state_dict, owner_prefix, local_metadata):
        for key in [k for k in state_dict if k.startswith(owner_prefix + prefix)]:
            del state_dict[key]
        return state_dict

    def ignore_missing(owner, incompatible_keys):
        nested = f'.{prefix}'
        missing = incompatible_keys.missing_keys
        missing[:] = [k for k in missing if not (k.startswith(prefix) or nested in k)]

    module._register_state_dict_hook(drop)
    module.register_load_state_dict_post_hook(ignore_missing)
