"""Client layer: typed reads from a decoded JSON response.

`Node` wraps one JSON value with its dotted path and the endpoint it came
from, so that a missing or mistyped field raises `ApiChanged` naming both.
Unknown fields are never looked at, and the ``opt_*`` readers accept null
or absence.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from toutvfs.errors import ApiChanged

T = TypeVar("T")


class Node:
    """A JSON value at *path* of the response of *endpoint*."""

    __slots__ = ("value", "endpoint", "path")

    def __init__(self, value: Any, endpoint: str, path: str = "") -> None:
        self.value = value
        self.endpoint = endpoint
        self.path = path

    def _child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def _fail(self, key: str | int, detail: str) -> ApiChanged:
        return ApiChanged(self.endpoint, self._child_path(key), detail)

    def _mapping(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise ApiChanged(self.endpoint, self.path or "<root>", "expected an object")
        return self.value

    def get(self, key: str) -> Node:
        """Return the child *key*, which must be present and not null."""
        mapping = self._mapping()
        if mapping.get(key) is None:
            raise self._fail(key, "missing or null")
        return Node(mapping[key], self.endpoint, self._child_path(key))

    def opt(self, key: str) -> Node | None:
        """Return the child *key*, or None when it is absent or null."""
        value = self._mapping().get(key)
        if value is None:
            return None
        return Node(value, self.endpoint, self._child_path(key))

    def items(self) -> Iterator[Node]:
        """Iterate over the elements of this list."""
        if not isinstance(self.value, list):
            raise ApiChanged(self.endpoint, self.path or "<root>", "expected a list")
        for index, value in enumerate(self.value):
            yield Node(value, self.endpoint, self._child_path(index))

    def opt_items(self, key: str) -> Iterator[Node]:
        """Iterate over the list *key*; absent or null counts as empty."""
        child = self.opt(key)
        if child is None:
            return iter(())
        return child.items()

    def _typed(self, key: str, kind: type[T], required: bool) -> T | None:
        child = self.opt(key)
        if child is None:
            if required:
                raise self._fail(key, "missing or null")
            return None
        value = child.value
        # bool is a subclass of int, and JSON never means a bool as a number.
        if kind is int and isinstance(value, bool):
            raise self._fail(key, f"expected {kind.__name__}, got bool")
        if not isinstance(value, kind):
            raise self._fail(
                key, f"expected {kind.__name__}, got {type(value).__name__}"
            )
        return value

    def text(self, key: str) -> str:
        """Return the required string *key*."""
        value = self._typed(key, str, required=True)
        assert value is not None
        return value

    def opt_text(self, key: str) -> str | None:
        """Return the string *key*; an empty string counts as None."""
        value = self._typed(key, str, required=False)
        return value or None

    def integer(self, key: str) -> int:
        """Return the required integer *key*."""
        value = self._typed(key, int, required=True)
        assert value is not None
        return value

    def opt_integer(self, key: str) -> int | None:
        """Return the integer *key*, accepting a decimal string too."""
        child = self.opt(key)
        if child is not None and isinstance(child.value, str):
            try:
                return int(child.value)
            except ValueError:
                raise self._fail(key, "expected an integer") from None
        return self._typed(key, int, required=False)

    def id_string(self, key: str) -> str:
        """Return the required id *key*, given as an integer or a string."""
        child = self.get(key)
        value = child.value
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self._fail(key, "expected an integer or a string id")
        text = str(value).strip()
        if not text:
            raise self._fail(key, "empty id")
        return text
