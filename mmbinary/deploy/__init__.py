"""Deploy: binary models as real 1-bit inference graphs (converter, packed format, back ends)."""

from .converter import (
    DeployedBinaryConv,
    DeployError,
    InputSign,
    convert_model,
    deploy_binary_layer,
)
from .exporter import DeployedModel, InferenceNet, export_model, read_export
from .packing import (
    FORMAT_NAME,
    FORMAT_VERSION,
    pack_bits,
    pack_code,
    unpack_bits,
    xnor_popcount_conv2d,
)
from .size import deployed_size, export_size

__all__ = [
    'FORMAT_NAME',
    'FORMAT_VERSION',
    'DeployError',
    'DeployedBinaryConv',
    'DeployedModel',
    'InferenceNet',
    'InputSign',
    'convert_model',
    'deploy_binary_layer',
    'deployed_size',
    'export_model',
    'export_size',
    'pack_bits',
    'pack_code',
    'read_export',
    'unpack_bits',
    'xnor_popcount_conv2d',
]
