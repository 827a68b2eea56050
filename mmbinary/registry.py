"""Registries of mmbinary: children of MMEngine's root registries, scope ``mmbinary``.

Everything of mmbinary is registered here. So that a config of MMPose or mmpretrain reaches it by
``type='X'`` after ``custom_imports=dict(imports=['mmbinary'])`` (and so that mmcv's
``build_conv_layer`` finds ``BinaryConv2d`` from any default scope), :func:`expose_to_root`
also registers each class in the parent (root) registry under the same name. ``'mmbinary.X'``
works too, as for any OpenMMLab scope.

Every ``MODELS.build`` (MMEngine's root registry and all its descendants, ``mmpose`` and
``mmpretrain`` included) opens a :func:`mmbinary.scope.build_scope` around the component it builds
(:func:`install_build_scopes`), so that the layers of one model share its learned binarizers and
two models never do.

Binarizers have a registry of their own, :data:`BINARIZERS`: they are built by the binary layers
(:func:`mmbinary.binarizers.build_binarizer`), never directly by a runner.
"""

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

from mmbinary import scope

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='mmbinary',
    locations=['mmbinary.layers', 'mmbinary.models'],
)
BINARIZERS = Registry('binarizer', scope='mmbinary', locations=['mmbinary.binarizers'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mmbinary', locations=['mmbinary.engine'])
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope='mmbinary', locations=['mmbinary.datasets']
)
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope='mmbinary', locations=['mmbinary.datasets']
)
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='mmbinary', locations=['mmbinary.engine']
)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmbinary',
    locations=['mmbinary.engine'],
)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMENGINE_PARAM_SCHEDULERS,
    scope='mmbinary',
    locations=['mmbinary.engine'],
)

_EXPOSED = (
    MODELS,
    HOOKS,
    DATASETS,
    TRANSFORMS,
    OPTIM_WRAPPERS,
    OPTIM_WRAPPER_CONSTRUCTORS,
    PARAM_SCHEDULERS,
)


def expose_to_root():
    """Register every class of mmbinary's registries in its parent (root) registry too.

    A name that the root already holds for a different class is an error: mmbinary never
    shadows a class of MMEngine or mmcv.
    """
    for registry in _EXPOSED:
        parent = registry.parent
        for name, cls in registry.module_dict.items():
            existing = parent.module_dict.get(name)
            if existing is None:
                parent.register_module(name=name, module=cls)
            elif existing is not cls:
                raise KeyError(
                    f'mmbinary cannot expose {name!r} to the root {parent.name!r} registry: '
                    f'it already holds {existing!r}.'
                )


def install_build_scopes():
    """Make every build of MMEngine's root ``MODELS`` tree open a build scope (idempotent).

    See :mod:`mmbinary.scope`: the outermost build is one model, whose layers share their
    learned binarizers; registries created later inherit the wrapped build function.
    """
    scope.install_build_scopes(MMENGINE_MODELS)
