"""The binarizer contract shared by every method, and the single definition of sign.

A binarizer is a small :class:`torch.nn.Module` that maps a real tensor to its binary value.
Most binarizers of the literature keep ``sign`` in the forward pass and differ only in the
pseudo-gradient used in the backward pass. :class:`SurrogateBinarizer` expresses exactly that:
a subclass defines a differentiable *surrogate* ``s(x)`` and the module returns

    ``y = sign(x) + (s(x) - stop_gradient(s(x)))``

whose value is exactly ``sign(x)`` (the bracket is exactly zero in floating point) and whose
gradient is ``s'(x)``, by autograd. Learnable surrogates (the BBC MLP) therefore receive the
task-loss gradient through the same path. One binarizer has a hand-written backward for speed:
:class:`~mmbinary.binarizers.MLPBinarizer` (``_MLPSign``, chunked), tested against this generic
path on its own surrogate.
"""

import torch
from torch import nn


def binary_sign(x: torch.Tensor) -> torch.Tensor:
    """Sign with ``sign(0) = +1``: the one definition used by every binarizer and weight code.

    ``binary_sign(x) = +1 if x >= 0 else -1``, in the dtype of ``x``. Zero maps to +1 so that
    the result is always in {-1, +1}; a 1-bit engine that packs it stores bit = ``x >= 0``.
    """
    return (x >= 0).to(x.dtype) * 2 - 1


def check_positive(owner: str, name: str, value, strict: bool = True):
    """Raise a ``ValueError`` naming the parameter unless ``value > 0`` (``>= 0`` if not strict)."""
    ok = value > 0 if strict else value >= 0
    if not ok:
        allowed = '> 0' if strict else '>= 0'
        raise ValueError(f'{owner}: {name} must be {allowed}, got {value!r}')
    return value


def check_choice(owner: str, name: str, value, choices):
    """Raise a ``ValueError`` naming the parameter unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f'{owner}: {name} must be one of {list(choices)}, got {value!r}')
    return value


class PositiveFloat:
    """A float attribute checked ``> 0`` on every assignment (a schedule may set it).

    Example:
        >>> class Sharp:
        ...     nu = PositiveFloat()
        >>> s = Sharp()
        >>> s.nu = 3
        >>> s.nu
        3.0
    """

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, objtype=None):
        return self if obj is None else obj.__dict__[self.name]

    def __set__(self, obj, value):
        obj.__dict__[self.name] = float(check_positive(type(obj).__name__, self.name, value))


class BaseBinarizer(nn.Module):
    """Base class of all binarizers: ``forward(x)`` returns the binary value of ``x``.

    Subclasses that are not plain sign-with-pseudo-gradient (AdaBin, self-binarizing tanh)
    override :meth:`forward` directly.

    Each binarizer declares what it is at inference, so tools (the OPs counter, the deploy
    converter) need no list of types:

    * ``precision``: bits of its value at inference (1 for every binarizer here);
    * ``sign_forward``: its eval-mode value is exactly ``binary_sign(x)``, so an engine runs it
      as a plain sign (False: AdaBin's affine sets, the BBC classifier's learned decision);
    * ``training_only_params``: its parameters (if any) only shape the backward pass, so the
      deployed model drops them (False: the parameters change the inference value);
    * ``weight_constants``: real constants per output channel that its binary *weight* needs
      once deployed, besides the layer's scale (2 for AdaBin's alpha and beta).
    """

    precision = 1
    sign_forward = True
    training_only_params = True
    weight_constants = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The {-1, +1} code that the binary value of ``x`` encodes (``sign(x)`` by default).

        Binarizers whose binary set is not {-1, +1} (AdaBin) or whose decision is not the sign
        (the BBC classifier) override it. It is what a weight's bits are (the flip-ratio hook
        counts its changes; a deploy converter packs it).
        """
        return binary_sign(x)


class SurrogateBinarizer(BaseBinarizer):
    """Forward :meth:`code` (``sign(x)`` unless overridden); backward the derivative of
    :meth:`surrogate`: ``y = code(x) + (s(x) - stop_gradient(s(x)))``."""

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        """A differentiable function whose derivative is the pseudo-gradient."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled() or not (x.requires_grad or self._has_trainable_params()):
            return self.code(x)
        s = self.surrogate(x)
        return self.code(x) + (s - s.detach())

    def _has_trainable_params(self) -> bool:
        return any(p.requires_grad for p in self.parameters())
