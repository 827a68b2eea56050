"""mmbinary: binary neural networks for MMPose and mmpretrain."""

from . import compat

compat.apply()

# Importing the sub-packages registers their classes; then make them visible from every scope.
from . import binarizers, datasets, engine, evaluation, layers, models  # noqa: E402, F401
from .registry import expose_to_root  # noqa: E402
from .version import __version__  # noqa: E402

expose_to_root()

__all__ = ['__version__']
