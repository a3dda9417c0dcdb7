"""Lazy listings: the operation that fetches page ``n`` of a listing by page number."""

from __future__ import annotations

from collections.abc import Callable, Sequence, Sized
from typing import Any, Generic, TypeVar

from ._ops import Budget, Op
from ._validate import clone

__all__ = ["Pages"]

Item = TypeVar("Item")


class Pages(Generic[Item]):
    """Builds the operation that fetches page ``n`` of one listing, ``fetch(request,
    budget)``, from the request of page 1; each page has its own budget."""

    __slots__ = ("_budget", "_fetch", "first", "per_page")

    def __init__(
        self,
        first: Any,
        fetch: Callable[[Any, Budget], Op[Sequence[Item]]],
        budget: Callable[[], Budget],
    ) -> None:
        self.first = first
        self.per_page: int = first.per_page
        self._fetch = fetch
        self._budget = budget

    def op(self, page: int) -> Op[Sequence[Item]]:
        if page == 1:
            request = self.first
        else:
            request = clone(self.first)
            request.page = page
        return self._fetch(request, self._budget())

    def is_last(self, items: Sized) -> bool:
        """A short (or empty) page ends the listing: the API has no total or token."""
        return len(items) < self.per_page
