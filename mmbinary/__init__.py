"""mmbinary: binary neural networks for MMPose and mmpretrain."""

from .utils.dependency import check_dependencies

# First: mmcv, mmengine, mmpose and torchvision are the user's to install (mminstall.txt).
check_dependencies()

from . import compat  # noqa: E402

compat.apply()

# Importing the sub-packages registers their classes; then make them visible from every scope.
from . import binarizers, datasets, engine, layers, models  # noqa: E402, F401
from .registry import expose_to_root, install_build_scopes  # noqa: E402
from .version import __version__  # noqa: E402

expose_to_root()
install_build_scopes()

__all__ = ['__version__']
