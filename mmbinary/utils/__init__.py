from .checkpoint import (
    AtomicLocalBackend,
    CheckpointMismatchError,
    UnsafeCheckpointError,
    check_state_dict,
    load_checkpoint_strict,
    safe_torch_load,
)
from .globals import isolated_mmengine_globals, restore_mmengine_globals, snapshot_mmengine_globals

__all__ = [
    'AtomicLocalBackend',
    'CheckpointMismatchError',
    'UnsafeCheckpointError',
    'check_state_dict',
    'isolated_mmengine_globals',
    'load_checkpoint_strict',
    'restore_mmengine_globals',
    'safe_torch_load',
    'snapshot_mmengine_globals',
]
