"""Helpers of the deploy package: optional back-end packages."""

import importlib

# The pins of requirements/lock.txt, for the install hint.
BACKEND_PACKAGES = {
    'openvino': 'openvino==2026.4.1',
    'nncf': 'nncf==3.4.0',
    'onnx': 'onnx==1.23.2',
    'onnxruntime': 'onnxruntime==1.32.0',
}


def require(package: str):
    """Import an optional back-end package, or raise an ``ImportError`` naming what to install.

    Example:
        >>> require('numpy').__name__
        'numpy'
    """
    try:
        return importlib.import_module(package)
    except ImportError as e:
        pin = BACKEND_PACKAGES.get(package, package)
        raise ImportError(
            f'this deploy back end needs the package {package!r}, which is not installed: '
            f'pip install {pin}'
        ) from e
