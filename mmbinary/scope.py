"""Build scopes: one per model under construction, so its layers share within it and never across.

Two things of mmbinary depend on the model a layer is built for, not on the layer's own
arguments:

* **sharing**: BBC's learned binarizers (:class:`~mmbinary.binarizers.MLPBinarizer` and its
  variants, ``shared=True``) hold one module for every binary layer *of one model* (the
  authors' code shares one MLP across the network), and never one module across two models
  built in the same process (a teacher and a student, two inferencers);
* **position**: the drop-in conv factory ``BinaryConv2dExceptStem``
  (:func:`~mmbinary.layers.binary_conv_except_stem`) keeps *the first conv that a component
  (a backbone) builds* real: that conv is the stem.

A :class:`BuildScope` carries both. :func:`build_scope` opens one; a scope opened inside another
*joins* its sharing pool (so a backbone and a head built by one pose estimator share one MLP)
unless it is ``isolated`` (a distillation teacher built inside its student gets its own pool),
and every scope counts the drop-in convs of its own component.

Scopes open without any user code: :func:`scoped_build_func` wraps the build function of
MMEngine's root ``MODELS`` registry and of each of its descendants (``mmpose``, ``mmpretrain``,
``mmbinary``, ...; registries created later inherit it), so every ``MODELS.build(cfg)`` —
directly, through ``mmpose.registry.MODELS.build`` or through MMEngine's ``Runner`` — opens a
scope around the component it builds, and the outermost build is the model. mmbinary's backbones
and heads also open one in their ``__init__``, so built directly in Python (``BinaryResNet(...)``)
they share within themselves. A model built directly in Python from a class of another
package (``mmpose.models.ResNet(conv_cfg=...)``) is built inside ``with build_scope():``.

Example:
    >>> from mmbinary.scope import build_scope, current_scope
    >>> current_scope() is None
    True
    >>> with build_scope() as model:
    ...     with build_scope() as backbone:
    ...         backbone.shared is model.shared
    True
"""

import contextlib
import functools
from typing import Callable, Dict, Iterator, List, Optional


class BuildScope:
    """The state of one component under construction.

    Attributes:
        shared (dict): modules shared by the layers of the model (``key -> module``); the same
            dict for every scope that joined the outermost (or nearest isolated) scope.
        convs_built (int): convs built so far by the drop-in factory for this component.
    """

    def __init__(self, shared: Dict):
        self.shared = shared
        self.convs_built = 0


_STACK: List[BuildScope] = []


def current_scope() -> Optional[BuildScope]:
    """The innermost open :class:`BuildScope`, or ``None`` outside any scope."""
    return _STACK[-1] if _STACK else None


@contextlib.contextmanager
def build_scope(isolated: bool = False) -> Iterator[BuildScope]:
    """Open a scope for one component: joins the enclosing model's pool unless ``isolated``.

    Args:
        isolated (bool): start a new sharing pool even inside another scope (a model built
            inside another one, e.g. a distillation teacher). Default False.
    """
    parent = current_scope()
    shared = parent.shared if parent is not None and not isolated else {}
    scope = BuildScope(shared)
    _STACK.append(scope)
    try:
        yield scope
    finally:
        _STACK.pop()


def scoped_build_func(build_func: Callable) -> Callable:
    """``build_func`` of a registry, wrapped so that every build opens a :func:`build_scope`."""
    if getattr(build_func, 'opens_build_scope', False):
        return build_func

    @functools.wraps(build_func)
    def build(*args, **kwargs):
        with build_scope():
            return build_func(*args, **kwargs)

    build.opens_build_scope = True
    return build


def install_build_scopes(root) -> None:
    """Wrap the build function of ``root`` and of every registry below it (idempotent).

    Registries created afterwards as children of ``root`` inherit the wrapped function.
    """
    pending = [root]
    while pending:
        registry = pending.pop()
        registry.build_func = scoped_build_func(registry.build_func)
        pending.extend(registry.children.values())
