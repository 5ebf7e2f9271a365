"""Which class a method comes from: a subclass's override can bypass a fast path built on its base."""

from __future__ import annotations


def defined_in(cls: type, name: str) -> type | None:
    """The first class in ``cls``'s MRO whose own body defines ``name`` (None: no class does)."""
    return next((klass for klass in cls.__mro__ if name in vars(klass)), None)


def replaced_since(cls: type, name: str, anchor: str) -> bool:
    """Whether ``cls`` resolves ``name`` to another function than the class defining ``anchor`` does.

    Then a subclass (or a mixin ahead of that class) replaced ``name``, and what ``anchor`` was
    written to stand in for (a dataset's ``gatherer`` for its ``__getitems__``, the fused steps'
    ``train_loss`` for ``training_step``) no longer does. False when no class defines ``anchor``.
    """
    owner = defined_in(cls, anchor)
    return owner is not None and getattr(cls, name, None) is not getattr(owner, name, None)
