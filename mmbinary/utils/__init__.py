from .checkpoint import (
    AtomicLocalBackend,
    CheckpointMismatchError,
    UnsafeCheckpointError,
    check_state_dict,
    load_checkpoint_strict,
    safe_torch_load,
)

__all__ = [
    'AtomicLocalBackend',
    'CheckpointMismatchError',
    'UnsafeCheckpointError',
    'check_state_dict',
    'load_checkpoint_strict',
    'safe_torch_load',
]
