"""PAT authentication from gRPC metadata (``authorization: Key <PAT>``).

The failure reason is returned for the status ``details``; it never contains the key.
"""

from __future__ import annotations

from collections.abc import Iterable

from fake_servicer.recording import Metadata

AUTH_KEY = "authorization"
_PREFIX = "Key "


class PatChecker:
    """Accepts any non-empty PAT (``pats=None``) or only the given ones."""

    def __init__(self, pats: Iterable[str] | None = None) -> None:
        self._pats: frozenset[str] | None = None if pats is None else frozenset(pats)

    def check(self, metadata: Metadata) -> str | None:
        """Return None if the metadata carries an accepted key, else why it was refused."""
        values = [value for key, value in metadata if key == AUTH_KEY]
        if not values:
            return "no authorization metadata was sent"
        if len(values) > 1:
            return "more than one authorization metadata value was sent"
        value = values[0]
        if not isinstance(value, str) or not value.startswith(_PREFIX):
            return "authorization metadata must be 'Key <PAT>'"
        pat = value[len(_PREFIX) :].strip()
        if not pat:
            return "authorization metadata has an empty key"
        if self._pats is not None and pat not in self._pats:
            return "the key is not accepted"
        return None
