"""The two building blocks of a compat twin: :func:`twin` and :class:`TwinLoss`.

A twin *function* is a plain function with its original's signature, that
maps its arguments onto core functions. Decorated with :func:`twin`, it calls
the core with the caller's argument names in force (a core error about
`logits` says `input`) and declares the roles of its arguments, which
:func:`jaxloss.checked` reads (which argument holds class indices,
probabilities, weights).

A twin *class* subclasses :class:`TwinLoss`: each subclass is made a frozen
dataclass whose fields are its constructor arguments (declared as annotated
class attributes with defaults, in the original's order), so that
``inspect.signature(Cls)`` and ``help(Cls)`` show them. Its ``function`` is the
twin function it calls; unless the subclass writes its own ``__call__``, calling
an instance passes the call's arguments and every field to ``function``, and
the generated ``__call__`` shows ``function``'s parameters that are not fields
(a ``__call__`` written in a base, as the Keras twins' ``(y_true, y_pred,
sample_weight=None)``, is kept).
The class declares the roles of ``function``, so ``checked(Cls(...))`` works.
:meth:`TwinLoss.get_config`/:meth:`TwinLoss.from_config` serialise the
constructor arguments the way Keras does.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar, dataclass_transform

from jaxloss import _checks

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = ["TwinLoss", "twin"]


def twin(names: Mapping[str, str], **roles: Any) -> Callable[[_F], _F]:
    """Decorates a twin function.

    ``names`` maps core argument names to the twin's (``{"logits": "input"}``):
    inside the call, core error messages use the twin's names and elementwise
    core losses broadcast both ways (see :func:`jaxloss._checks.argument_names`).
    ``roles`` are :class:`jaxloss._checks.Roles` fields naming the twin's
    arguments (``labels="target"``, ``non_negative=("weight",)``).
    The result keeps the function's name, docstring and signature.
    """
    mapping = dict(names)

    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            with _checks.argument_names(**mapping):
                return fn(*args, **kwargs)

        return _checks.declare(**roles)(call)  # type: ignore[return-value]

    return decorate


def _call_signature(fn: Callable[..., Any], names: tuple[str, ...]) -> inspect.Signature:
    """``self`` and the parameters ``names`` of ``fn``."""
    params = [p for name, p in inspect.signature(fn).parameters.items() if name in names]
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return inspect.Signature([self_param, *params])


class _ClassRoles:
    """The roles of a twin class, seen on the class only (what :func:`_checks.roles_of` reads).

    An instance shows none, so that :func:`jaxloss.checked` reads the roles from
    the class and binds the instance's constructor arguments as options.
    """

    def __init__(self, roles: _checks.Roles):
        self.roles = roles

    def __get__(self, obj: Any, owner: type | None = None) -> _checks.Roles | None:
        return None if obj is not None else self.roles


@dataclass_transform(frozen_default=True, eq_default=False)
class TwinLoss:
    """Base of the twin loss classes: frozen constructor arguments and a call.

    A subclass lists its constructor arguments as annotated class attributes
    with defaults and sets ``function``::

        class MSELoss(TwinLoss):
            function = staticmethod(mse_loss)
            size_average: bool | None = None
            reduce: bool | None = None
            reduction: str = "mean"

    ``MSELoss(reduction="sum")(input, target)`` is then
    ``mse_loss(input, target, size_average=None, reduce=None, reduction="sum")``.
    ``call_arguments`` (default: every parameter of ``function`` that is not a
    field) names the parameters the call shows; ``class X(TwinLoss,
    kw_only=True)`` makes the constructor arguments keyword-only.
    Instances are immutable; they compare by identity (options may be arrays).
    """

    function: ClassVar[Callable[..., Any] | None] = None
    call_arguments: ClassVar[tuple[str, ...] | None] = None

    def __init_subclass__(cls, *, kw_only: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, eq=False, kw_only=kw_only)(cls)
        fn = cls.__dict__.get("function")
        if isinstance(fn, staticmethod):
            fn = fn.__func__
        if fn is None:
            return
        roles = _checks.roles_of(fn)
        if roles is not None:
            cls.__jaxloss_roles__ = _ClassRoles(roles)  # type: ignore[attr-defined]  # read by roles_of
        # A ``__call__`` that a class (or a base below TwinLoss) writes is kept.
        own = next((k.__dict__["__call__"] for k in cls.__mro__ if "__call__" in k.__dict__), None)
        if own is None or getattr(own, "_twin_generated", False):
            fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
            names = cls.call_arguments or tuple(n for n in inspect.signature(fn).parameters if n not in fields)

            def __call__(self: TwinLoss, *args: Any, **kw: Any) -> Any:
                return fn(*args, **kw, **self._arguments())

            __call__.__signature__ = _call_signature(fn, names)  # type: ignore[attr-defined]
            __call__.__doc__ = f"Calls :func:`{fn.__name__}` with this object's options."
            __call__.__qualname__ = f"{cls.__qualname__}.__call__"
            __call__._twin_generated = True  # type: ignore[attr-defined]
            cls.__call__ = __call__  # type: ignore[method-assign]

    def _arguments(self) -> dict[str, Any]:
        """The constructor arguments, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras's ``get_config``); ``from_config`` rebuilds the object."""
        return self._arguments()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TwinLoss:
        """The object that ``config`` (from :meth:`get_config`) describes."""
        return cls(**config)
