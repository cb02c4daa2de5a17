"""Settings' values made immutable for the typed settings (settings/values.py): a list becomes a
tuple, a mapping a FrozenMapping, so a settings object is frozen all the way down and hashable.
Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class FrozenMapping(Mapping[K, V], Generic[K, V]):
    """A read-only, hashable mapping (equal to a dict with the same items)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[K, V] | None = None):
        self._items = dict(items or {})

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"FrozenMapping({self._items!r})"


def frozen(value: Any) -> Any:
    """`value` with every list (or tuple) a tuple and every mapping a FrozenMapping, nested."""
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    if isinstance(value, Mapping):
        return FrozenMapping({key: frozen(item) for key, item in value.items()})
    return value
