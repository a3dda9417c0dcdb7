"""PAT authentication from gRPC metadata (``authorization: Key <PAT>``), and who the PAT is.

The failure reason is returned for the status ``details``; it never contains the key.

``users`` maps PATs to user ids, so a test can give an owner, labelers and reviewers each their
own PAT on the owner's ``user_app_id``: the PAT's user is the actor of PutTaskAssignments and
the author of annotations. A PAT without a user acts as the app owner
(``user_app_id.user_id``). Mapped PATs are always accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fake_servicer.recording import Metadata

AUTH_KEY = "authorization"
_PREFIX = "Key "


class PatChecker:
    """Accepts any non-empty PAT (``pats=None``) or only the given ones (and mapped ones)."""

    def __init__(
        self, pats: Iterable[str] | None = None, users: Mapping[str, str] | None = None
    ) -> None:
        self._users: dict[str, str] = {}
        self._pats: frozenset[str] | None = None if pats is None else frozenset(pats)
        self.add_users(users or {})

    def add_users(self, users: Mapping[str, str]) -> None:
        """Map more PATs to users (replacing earlier mappings of the same PATs)."""
        for pat, user_id in users.items():
            if not pat or not user_id:
                raise ValueError("users maps non-empty PATs to non-empty user ids")
        self._users = {**self._users, **users}  # one atomic swap: readers never see a half

    def check(self, metadata: Metadata) -> str | None:
        """Return None if the metadata carries an accepted key, else why it was refused."""
        pat = _pat(metadata)
        if not isinstance(pat, str):
            return pat.reason
        if self._pats is not None and pat not in self._pats and pat not in self._users:
            return "the key is not accepted"
        return None

    def user_of(self, metadata: Metadata) -> str | None:
        """The user mapped to the metadata's PAT, or None (the app owner acts)."""
        pat = _pat(metadata)
        return self._users.get(pat) if isinstance(pat, str) else None


class _Refusal:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _pat(metadata: Metadata) -> str | _Refusal:
    """The PAT in ``metadata``, or why there is none."""
    values = [value for key, value in metadata if key == AUTH_KEY]
    if not values:
        return _Refusal("no authorization metadata was sent")
    if len(values) > 1:
        return _Refusal("more than one authorization metadata value was sent")
    value = values[0]
    if not isinstance(value, str) or not value.startswith(_PREFIX):
        return _Refusal("authorization metadata must be 'Key <PAT>'")
    pat = value[len(_PREFIX) :].strip()
    if not pat:
        return _Refusal("authorization metadata has an empty key")
    return pat
