"""Give the learnable binarizers (the BBC MLP) their own optimizer settings.

BBC's recipe trains the network with Adam 2.5e-3 (linear decay) and the shared MLP with Adam 1e-3
(x0.1 at epochs 70/90/100/110) [official code]. With one optimizer, that is two param groups
and two schedules:

.. code-block:: python

    optim_wrapper = dict(
        optimizer=dict(type='Adam', lr=2.5e-3, weight_decay=0),
        constructor='BinaryOptimWrapperConstructor',
        paramwise_cfg=dict(binarizer_group=dict(lr=1e-3, weight_decay=0)))
    param_scheduler = [
        dict(type='ParamGroupScheduler', exclude_groups=['binarizer'], by_epoch=True,
             scheduler=dict(type='LinearLR', start_factor=1.0, end_factor=0.0)),
        dict(type='ParamGroupScheduler', groups=['binarizer'], by_epoch=True,
             scheduler=dict(type='MultiStepLR', milestones=[70, 90, 100, 110], gamma=0.1)),
    ]

Both groups share the optimizer *type* (one torch optimizer); a different type per group would
need two optimizers, which mmengine's single-loss ``train_step`` does not drive.
"""

from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor

from mmbinary.binarizers.base import BaseBinarizer
from mmbinary.registry import OPTIM_WRAPPER_CONSTRUCTORS

BINARIZER_GROUP = 'binarizer'


def binarizer_parameters(model):
    """Unique trainable parameters held by binarizers (a shared MLP counted once)."""
    params, seen = [], set()
    for module in model.modules():
        if isinstance(module, BaseBinarizer):
            for p in module.parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
    return params


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BinaryOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """:class:`DefaultOptimWrapperConstructor` plus a param group for binarizer parameters.

    ``paramwise_cfg.binarizer_group`` (dict, optional) holds the optimizer settings of that group
    (``lr``, ``weight_decay``, ``betas``, ...; unspecified ones come from ``optimizer``). The
    group is named ``'binarizer'`` (``param_group['name']``) so that
    :class:`ParamGroupScheduler` can schedule it separately. Every other ``paramwise_cfg`` option
    works as in MMEngine for the remaining parameters.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        self.binarizer_group = paramwise_cfg.pop('binarizer_group', None)
        if self.binarizer_group is not None and not isinstance(self.binarizer_group, dict):
            raise TypeError(
                f'paramwise_cfg.binarizer_group must be a dict, got {self.binarizer_group!r}'
            )
        super().__init__(optim_wrapper_cfg, paramwise_cfg or None)

    def __call__(self, model):
        optim_wrapper = super().__call__(model)
        if self.binarizer_group is None:
            return optim_wrapper
        module = model.module if is_model_wrapper(model) else model
        params = binarizer_parameters(module)
        if not params:
            raise ValueError(
                'paramwise_cfg.binarizer_group is set but the model has no trainable '
                'binarizer parameters (e.g. no MLPBinarizer / LinearBinarizer / AdaBinActivation)'
            )
        ids = {id(p) for p in params}
        optimizer = optim_wrapper.optimizer
        for group in optimizer.param_groups:
            group['params'] = [p for p in group['params'] if id(p) not in ids]
        optimizer.param_groups[:] = [g for g in optimizer.param_groups if g['params']]
        optimizer.add_param_group(dict(self.binarizer_group, params=params, name=BINARIZER_GROUP))
        return optim_wrapper
