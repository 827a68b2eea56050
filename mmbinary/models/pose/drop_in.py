"""Drop-in binarization of an existing MMPose / mmpretrain backbone through its ``conv_cfg``.

MMPose's ``ResNet`` (and most OpenMMLab backbones) build *every* convolution with
``build_conv_layer(self.conv_cfg, ...)``, the stem included. :func:`binary_conv_except_stem`,
registered as ``'BinaryConv2dExceptStem'``, applies the classic rule of binary networks
(XNOR-Net, Bi-Real Net): **the first layer stays real**. The rule, decided per conv from its
arguments alone:

* a conv whose input has ``image_channels`` channels (3: it reads the image) -> real ``Conv2d``;
* with ``keep_real_1x1=True``, every 1x1 conv (downsample shortcuts, bottleneck 1x1) -> real
  ``Conv2d`` too (Bi-Real keeps its shortcuts real);
* every other conv -> :class:`~mmbinary.layers.BinaryConv2d` with the given binarizers.

The last layer stays real by construction: the heads of MMPose build their final 1x1 conv with
an explicit ``type='Conv2d'``, not with the backbone's ``conv_cfg``.

Example (an official MMPose config, binarized)::

    _base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/'
              'td-hm_res50_8xb64-210e_coco-256x192.py']
    custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)
    model = dict(backbone=dict(conv_cfg=dict(type='BinaryConv2dExceptStem')))
"""

from torch import nn

from mmbinary.layers import BinaryConv2d
from mmbinary.registry import MODELS

BINARY_ARGS = ('weight_binarizer', 'input_binarizer', 'weight_scale', 'center_weight')


def binary_conv_except_stem(
    in_channels, out_channels, kernel_size, *args, image_channels=3, keep_real_1x1=False, **kwargs
):
    """Build a :class:`BinaryConv2d`, or a real ``nn.Conv2d`` for the stem (see module doc).

    Args:
        in_channels, out_channels, kernel_size, *args: as :class:`torch.nn.Conv2d`.
        image_channels (int): input channels that mark the stem. Default 3.
        keep_real_1x1 (bool): keep every 1x1 conv real. Default False.
        **kwargs: arguments of :class:`torch.nn.Conv2d` and of :class:`BinaryConv2d`
            (``weight_binarizer``, ``input_binarizer``, ``weight_scale``, ``center_weight``;
            ignored by the real convs).
    """
    is_1x1 = kernel_size in (1, (1, 1), [1, 1])
    if in_channels == image_channels or (keep_real_1x1 and is_1x1):
        real_kwargs = {k: v for k, v in kwargs.items() if k not in BINARY_ARGS}
        return nn.Conv2d(in_channels, out_channels, kernel_size, *args, **real_kwargs)
    return BinaryConv2d(in_channels, out_channels, kernel_size, *args, **kwargs)


MODELS.register_module(name='BinaryConv2dExceptStem', module=binary_conv_except_stem)
