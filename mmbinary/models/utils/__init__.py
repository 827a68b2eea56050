"""Pieces shared by mmbinary's models: activations, shortcuts, the frozen teacher, state dicts."""

from .activation import build_act
from .config import unwrap_model_config
from .shortcut import SHORTCUTS, ShortcutA, option_a_shortcut, real_shortcut
from .state_dict import exclude_from_state_dict
from .teacher import (
    FrozenTeacherMixin,
    build_frozen_teacher,
    check_same_normalisation,
    check_teacher,
    load_teacher_config,
)

__all__ = [
    'SHORTCUTS',
    'FrozenTeacherMixin',
    'ShortcutA',
    'build_act',
    'build_frozen_teacher',
    'check_same_normalisation',
    'check_teacher',
    'exclude_from_state_dict',
    'load_teacher_config',
    'option_a_shortcut',
    'real_shortcut',
    'unwrap_model_config',
]
