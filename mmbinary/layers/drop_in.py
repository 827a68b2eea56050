"""Drop-in binarization of an existing MMPose / mmpretrain backbone through its ``conv_cfg``.

MMPose's ``ResNet`` (and most OpenMMLab backbones) build *every* convolution with
``build_conv_layer(self.conv_cfg, ...)``, the stem included. :func:`binary_conv_except_stem`,
registered as ``'BinaryConv2dExceptStem'``, applies the classic rule of binary networks
(XNOR-Net, Bi-Real Net): **the first layer stays real**. The stem is decided by *position*:

* the first conv that the component being built (the backbone) builds with this factory -> a
  real ``Conv2d`` (OpenMMLab backbones build their stem first: ``ResNet.conv1``, or the first
  conv of ``deep_stem``);
* with ``keep_real_1x1=True``, every 1x1 conv (downsample shortcuts, bottleneck 1x1) -> real
  ``Conv2d`` too (Bi-Real keeps its shortcuts real);
* every other conv -> :class:`~mmbinary.layers.BinaryConv2d` with the given binarizers, whatever
  its input channels (an inner conv with 3 input channels is binary).

"The component being built" is the innermost :func:`~mmbinary.scope.build_scope`: every
``MODELS.build`` opens one (through ``mmpose.registry.MODELS.build``, mmpretrain's registry or
MMEngine's ``Runner``), so the backbone of a config counts its own convs. A backbone built
directly in Python is built inside ``with build_scope():``; outside any scope the factory
raises an error rather than guess.

The last layer stays real by construction: the heads of MMPose build their final 1x1 conv with
an explicit ``type='Conv2d'``, not with the backbone's ``conv_cfg``.

Example (an official MMPose config, binarized)::

    _base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/'
              'td-hm_res50_8xb64-210e_coco-256x192.py']
    custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)
    model = dict(backbone=dict(conv_cfg=dict(type='BinaryConv2dExceptStem')))
"""

from torch import nn

from mmbinary.registry import MODELS
from mmbinary.scope import current_scope

from .binary_conv import BINARY_ARGS, BinaryConv2d


def binary_conv_except_stem(
    in_channels, out_channels, kernel_size, *args, keep_real_1x1=False, **kwargs
):
    """Build a :class:`BinaryConv2d`, or a real ``nn.Conv2d`` for the stem (see module doc).

    Args:
        in_channels, out_channels, kernel_size, *args: as :class:`torch.nn.Conv2d`.
        keep_real_1x1 (bool): keep every 1x1 conv real. Default False.
        **kwargs: arguments of :class:`torch.nn.Conv2d` and of :class:`BinaryConv2d`
            (``weight_binarizer``, ``input_binarizer``, ``weight_scale``, ``center_weight``;
            ignored by the real convs).

    Raises:
        RuntimeError: called outside any build scope (the stem cannot be told by position).

    Example:
        >>> from mmcv.cnn import build_conv_layer
        >>> from mmbinary.scope import build_scope
        >>> cfg = dict(type='BinaryConv2dExceptStem')
        >>> with build_scope():
        ...     stem = build_conv_layer(cfg, 3, 64, 7, stride=2, padding=3)
        ...     body = build_conv_layer(cfg, 64, 64, 3, padding=1)
        >>> type(stem).__name__, type(body).__name__
        ('Conv2d', 'BinaryConv2d')
    """
    scope = current_scope()
    if scope is None:
        raise RuntimeError(
            'BinaryConv2dExceptStem keeps the first conv of the backbone real, so it must be '
            'built while a backbone or model is built: through a registry (MODELS.build, a '
            'Runner) or inside `with mmbinary.scope.build_scope():`'
        )
    is_stem = scope.convs_built == 0
    scope.convs_built += 1
    is_1x1 = kernel_size in (1, (1, 1), [1, 1])
    if is_stem or (keep_real_1x1 and is_1x1):
        real_kwargs = {k: v for k, v in kwargs.items() if k not in BINARY_ARGS}
        return nn.Conv2d(in_channels, out_channels, kernel_size, *args, **real_kwargs)
    return BinaryConv2d(in_channels, out_channels, kernel_size, *args, **kwargs)


MODELS.register_module(name='BinaryConv2dExceptStem', module=binary_conv_except_stem)
