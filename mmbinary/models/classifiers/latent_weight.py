"""Latent-weight supervision for binary classifiers (reconstruction).

Xu, Chen, He, Wang, Cheng, "Improving Binary Neural Networks through Fully Utilizing Latent
Weights", arXiv 2110.05850. The abstract says that the real-valued latent weights are added to
the computation graph as a real-valued feature extractor that aids binary training, with a
specialised supervision (ResNet-18 63.4 %, ResNet-34 67.0 % ImageNet top-1). **No code and no
method details are published**; everything below is our reconstruction, each choice a config
switch of :class:`LatentWeightClassifier`:

* **Real path** [reconstruction]: during training, the whole network runs a second time with
  every binarizer of every binary layer bypassed (:func:`bypass_binarizers`), i.e. the *same*
  latent weight tensors on real activations (``latent_binary_inputs=True``: on binary ones).
  Its weight is the latent weight itself, centred per output channel where the layer centres
  (BBC), without the binary scale. Batch-norm layers normalise the real path with its own batch
  statistics and the shared affine parameters; their running statistics are updated by the
  binary path only (:func:`frozen_norm_statistics`), so eval mode sees binary statistics.
* **Task loss of the real path** [reconstruction]: the classification loss of the real logits,
  from the *same* head by default (no extra parameters: the exported model is exactly the plain
  classifier) or from an auxiliary head (``latent_head``), weighted by ``latent_loss_weight``.
* **Feature mimic** [reconstruction]: ``mean_i MSE(f_i^bin, f_i^real)`` over the backbone
  outputs ``i``, weighted by ``mimic_loss_weight``; the real features are detached by default
  (``detach_latent_features``): the real path is a teacher for the binary one and is trained by
  its own task loss only.

Both paths use the same latent weights, so both losses reach them: the real path's through exact
gradients, the binary path's (including the mimic term) through the binarizers' pseudo-gradients.
Nothing of the real path exists in eval mode: ``predict`` and ``'tensor'`` mode are those of
:class:`ImageClassifier`, and ``state_dict()`` holds exactly the plain classifier's keys.
"""

import contextlib
from typing import List, Optional, Tuple

import torch.nn.functional as F
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmbinary.binarizers.base import check_positive
from mmbinary.layers.binary_conv import BinaryLayerMixin
from mmbinary.registry import MODELS

from ..utils import exclude_from_state_dict, unwrap_model_config

LATENT_KEYS = (
    'latent_loss_weight',
    'mimic_loss_weight',
    'latent_head',
    'detach_latent_features',
    'latent_binary_inputs',
)


@contextlib.contextmanager
def bypass_binarizers(module: nn.Module, weights: bool = True, inputs: bool = True):
    """Within the context, the binary layers of ``module`` compute with real operands.

    Every :class:`~mmbinary.layers.binary_conv.BinaryLayerMixin` layer (``BinaryConv2d``,
    ``BinaryConvTranspose2d``, ``BinaryLinear``) loses its weight binarizer (``weights``) and
    input binarizer (``inputs``): it uses its latent weight tensor itself (centred if the layer
    centres; no binary scale), so gradients reach the same parameter. The binarizers are put
    back on exit, also after an exception. Yields the affected layers.
    """
    layers = [m for m in module.modules() if isinstance(m, BinaryLayerMixin)]
    saved = [(m.weight_binarizer, m.input_binarizer) for m in layers]
    try:
        for m in layers:
            if weights:
                m.weight_binarizer = None
            if inputs:
                m.input_binarizer = None
        yield layers
    finally:
        for m, (weight_binarizer, input_binarizer) in zip(layers, saved):
            m.weight_binarizer = weight_binarizer
            m.input_binarizer = input_binarizer


@contextlib.contextmanager
def frozen_norm_statistics(module: nn.Module):
    """Within the context, batch norms of ``module`` do not update their running statistics.

    In training mode they still normalise with the batch statistics (and in eval mode with the
    running ones), so an extra forward pass leaves no trace in the buffers.
    """
    norms = [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    try:
        for m in norms:
            m.track_running_stats = False
        yield norms
    finally:
        for m in norms:
            m.track_running_stats = True


@MODELS.register_module()
class LatentWeightClassifier(ImageClassifier):
    """:class:`ImageClassifier` whose training adds a real-valued path on the latent weights.

    Reconstruction of arXiv 2110.05850 (no code published; see the module docstring). ``loss``
    returns, in training mode:

    * ``loss``: the head's loss on the binary path (as :class:`ImageClassifier`);
    * ``loss_latent``: ``latent_loss_weight`` times the head's loss on the real path (the
      head's accuracy, if computed, is logged as ``latent_accuracy_top-k``);
    * ``loss_mimic``: ``mimic_loss_weight * mean_i MSE(binary feature i, real feature i)``
      over the backbone outputs.

    Terms with weight 0 are left out, and with both weights 0 the real path is not run. In eval
    mode, ``loss`` is the plain classifier's; prediction is the plain classifier's in every mode.

    Args:
        backbone, neck, head, pretrained, train_cfg, data_preprocessor, init_cfg: as
            :class:`ImageClassifier`.
        latent_loss_weight (float): weight of the real path's task loss, >= 0. Default 1.
        mimic_loss_weight (float): weight of the feature-mimic loss, >= 0. Default 1.
        latent_head (dict, optional): config of an auxiliary head for the real path
            [reconstruction]. ``None`` (default): the real path uses the model's own head. An
            auxiliary head is a training-time helper: it is left out of ``state_dict()`` (so
            checkpoints and exports hold the plain classifier, and load into it), and therefore
            starts again from its initialisation when training is resumed.
        detach_latent_features (bool): stop the mimic gradient at the real features, so the
            mimic loss trains the binary path only [reconstruction]. Default True.
        latent_binary_inputs (bool): the real path keeps the input binarizers (real latent
            weights on binary activations) [reconstruction]. Default False: real weights on real
            activations.

    Raises:
        ValueError: a negative loss weight, or gradient checkpointing (``with_cp``) in the
            model: its recomputation in the backward pass would run outside the real path's
            context and give wrong gradients.

    Example:
        >>> import torch
        >>> from mmpretrain.registry import MODELS
        >>> model = MODELS.build(dict(
        ...     type='LatentWeightClassifier',
        ...     backbone=dict(type='BinaryResNet', depth=18, stem_channels=8, base_channels=8),
        ...     neck=dict(type='GlobalAveragePooling'),
        ...     head=dict(type='LinearClsHead', num_classes=10, in_channels=64),
        ...     latent_loss_weight=1.0, mimic_loss_weight=1.0))
        >>> model(torch.rand(2, 3, 32, 32)).shape  # the binary classifier, as ImageClassifier
        torch.Size([2, 10])
    """

    def __init__(
        self,
        backbone: dict,
        neck: Optional[dict] = None,
        head: Optional[dict] = None,
        latent_loss_weight: float = 1.0,
        mimic_loss_weight: float = 1.0,
        latent_head: Optional[dict] = None,
        detach_latent_features: bool = True,
        latent_binary_inputs: bool = False,
        pretrained: Optional[str] = None,
        train_cfg: Optional[dict] = None,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ):
        owner = type(self).__name__
        self.latent_loss_weight = float(
            check_positive(owner, 'latent_loss_weight', latent_loss_weight, strict=False)
        )
        self.mimic_loss_weight = float(
            check_positive(owner, 'mimic_loss_weight', mimic_loss_weight, strict=False)
        )
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
        )
        if not self.with_head:
            raise ValueError(f'{owner} needs a head')
        checkpointed = [n for n, m in self.named_modules() if getattr(m, 'with_cp', False)]
        if checkpointed:
            raise ValueError(
                f'{owner}: gradient checkpointing (with_cp=True) in {checkpointed[0]!r} is not '
                'supported: its recomputation would binarize the real path; set with_cp=False'
            )
        self.detach_latent_features = bool(detach_latent_features)
        self.latent_binary_inputs = bool(latent_binary_inputs)
        if latent_head is not None:
            self.latent_head = (
                latent_head
                if isinstance(latent_head, nn.Module)
                else MMPRETRAIN_MODELS.build(latent_head)
            )
            # Keep the auxiliary head out of checkpoints (and accept checkpoints without it).
            exclude_from_state_dict(self, 'latent_head')
        else:
            self.latent_head = None

    def loss(self, inputs: Tensor, data_samples: List[DataSample]) -> dict:
        """The binary path's losses, plus ``loss_latent`` and ``loss_mimic`` in training."""
        feats = self.backbone(inputs)
        losses = self.head.loss(self._neck(feats), data_samples)
        use_latent = self.latent_loss_weight > 0
        use_mimic = self.mimic_loss_weight > 0
        if not self.training or not (use_latent or use_mimic):
            return losses
        with self.real_path():
            real_feats = self.backbone(inputs)
            if use_latent:
                head = self.head if self.latent_head is None else self.latent_head
                latent_losses = head.loss(self._neck(real_feats), data_samples)
        if use_latent:
            for key, value in latent_losses.items():
                if key == 'loss':
                    losses['loss_latent'] = value * self.latent_loss_weight
                elif 'loss' in key:
                    losses[f'{key}_latent'] = value * self.latent_loss_weight
                else:
                    losses[f'latent_{key}'] = value
        if use_mimic:
            feats, real_feats = _as_tuple(feats), _as_tuple(real_feats)
            mimic = sum(
                F.mse_loss(b, r.detach() if self.detach_latent_features else r)
                for b, r in zip(feats, real_feats)
            )
            losses['loss_mimic'] = mimic / len(feats) * self.mimic_loss_weight
        return losses

    @contextlib.contextmanager
    def real_path(self):
        """Within the context the model computes with its latent weights (see the module doc)."""
        inputs = not self.latent_binary_inputs
        with bypass_binarizers(self, weights=True, inputs=inputs), frozen_norm_statistics(self):
            yield

    def _neck(self, feats: Tuple[Tensor, ...]):
        return self.neck(feats) if self.with_neck else feats

    def extra_repr(self) -> str:
        return (
            f'latent_loss_weight={self.latent_loss_weight}, '
            f'mimic_loss_weight={self.mimic_loss_weight}, '
            f'auxiliary_head={self.latent_head is not None}, '
            f'detach_latent_features={self.detach_latent_features}, '
            f'latent_binary_inputs={self.latent_binary_inputs}'
        )


def plain_classifier_config(model_cfg: dict) -> dict:
    """The plain :class:`ImageClassifier` config of a :class:`LatentWeightClassifier` config.

    Checkpoints of a latent-weight model load into it (strictly) for testing and export.
    """
    return unwrap_model_config(model_cfg, 'LatentWeightClassifier', 'ImageClassifier', LATENT_KEYS)


def _as_tuple(feats):
    return feats if isinstance(feats, tuple) else (feats,)
