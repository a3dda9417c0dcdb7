"""The options objects, with their defaults named once: a client's settings
(:class:`ClientOptions`) and one bulk call's batching (:class:`BulkOptions`).

:class:`ClientOptions` is what ``TaskClient(...)``, ``AsyncTaskClient(...)``,
``from_env``, ``from_options`` and pickling build and keep; its fields' ``doc``
metadata is the constructor documentation. The per-call options, ``timeout=``
(None: the client's) and ``retry=`` (DEFAULT: the client's), are checked by
``check_timeout`` and :func:`check_retry`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r

from ._config import (
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT,
    ENV_APP,
    ENV_BASE,
    ENV_PAT,
    ENV_USER,
    check_count,
    check_max_request_bytes,
    check_pat,
    check_timeout,
    is_loopback,
    normalize_target,
)
from .errors import ValidationError
from .retry import DEFAULT, Default, RetryPolicy, TokenBucket

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_PER_PAGE",
    "BulkOptions",
    "ClientOptions",
]

#: Tasks per bulk request (``batch_size``) unless said otherwise.
DEFAULT_BATCH_SIZE = 128
#: Bulk requests in flight at once (``concurrency``) unless said otherwise.
DEFAULT_CONCURRENCY = 8
#: Items per listed page (``per_page``) unless said otherwise.
DEFAULT_PER_PAGE = 128

RetryArg = RetryPolicy | Default | None


def check_retry(retry: object) -> RetryPolicy | Default | None:
    """``retry`` if it is a RetryPolicy, None or DEFAULT; ValidationError otherwise."""
    if retry is DEFAULT or retry is None or isinstance(retry, RetryPolicy):
        return retry
    raise ValidationError(f"retry must be a RetryPolicy or None, got {retry!r}")


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class ClientOptions:
    """A client's validated settings (``repr`` never shows the PAT).

    Build one to configure clients in one place: ``TaskClient.from_options(opts)``;
    ``ClientOptions.from_env()`` reads the ``CLARIFAI_*`` variables. Bad values
    raise :class:`~taskgrpc.ValidationError`. ``target`` comes back as
    ``host:port``, ``retry`` as a RetryPolicy or None, and a timeout of 1e9 s or
    more as ``math.inf``.
    """

    pat: str = field(
        repr=False,
        metadata=_doc(
            "the Personal Access Token, sent as ``authorization: Key <pat>``;\n"
            "printable ASCII, never shown in reprs, logs or errors."
        ),
    )
    user_id: str = field(metadata=_doc("the user of the app every request addresses."))
    app_id: str = field(metadata=_doc("the app every request addresses (``user_app_id``)."))
    target: str = field(
        default=DEFAULT_TARGET,
        metadata=_doc(
            "``host`` or ``host:port`` (port 443 by default); default\n``api.clarifai.com:443``."
        ),
    )
    secure: bool = field(
        default=True,
        metadata=_doc(
            "TLS (default ``True``); ``False`` for a plaintext server such\nas the fake."
        ),
    )
    timeout: float | None = field(
        default=DEFAULT_TIMEOUT,
        metadata=_doc(
            "the default time budget of each call in seconds, retries\n"
            "included (default 30; ``None``, ``math.inf`` or 1e9 or more for none)."
        ),
    )
    retry: RetryPolicy | None = field(
        default=DEFAULT,  # type: ignore[assignment]  # DEFAULT becomes RetryPolicy()
        metadata=_doc(
            "the default :class:`~taskgrpc.RetryPolicy`, or ``None`` for no\n"
            "retries (default: ``RetryPolicy()``)."
        ),
    )
    max_rps: float | None = field(
        default=None,
        metadata=_doc("a client-wide cap on requests per second (default: none)."),
    )
    allow_insecure: bool = field(
        default=False,
        metadata=_doc(
            "allow ``secure=False`` to a non-loopback host, which\n"
            "sends the PAT in clear text (default ``False``)."
        ),
    )
    max_request_bytes: int = field(
        default=DEFAULT_MAX_REQUEST_BYTES,
        metadata=_doc(
            "the byte budget of one ``create_many`` or\n"
            "``update_many`` request (default 3 MiB, under gRPC's 4 MiB)."
        ),
    )

    def __post_init__(self) -> None:
        from . import requests as rq

        check_pat(self.pat)
        rq.user_app_id(self.user_id, self.app_id)  # validates both
        retry = check_retry(self.retry)
        if self.max_rps is not None:
            TokenBucket(self.max_rps)  # validates
        normalized = {
            "target": normalize_target(self.target),
            "secure": bool(self.secure),
            "timeout": check_timeout(self.timeout),
            "retry": RetryPolicy() if retry is DEFAULT else retry,
            "allow_insecure": bool(self.allow_insecure),
            "max_request_bytes": check_max_request_bytes(self.max_request_bytes),
        }
        for name, value in normalized.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientOptions:
        """Options from ``CLARIFAI_PAT``, ``CLARIFAI_USER_ID``, ``CLARIFAI_APP_ID`` and
        ``CLARIFAI_GRPC_BASE`` (host or host:port); keyword ``overrides`` win, and a
        missing variable raises ValidationError naming it."""
        return cls(**env_settings(overrides, environ))

    def settings(self) -> dict[str, Any]:
        """The keywords that rebuild these options."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(ClientOptions)}


@dataclass(frozen=True, repr=False)
class ClientConfig(ClientOptions):
    """A client's options and what follows from them: the ``user_app_id`` of every
    request and the call metadata. ``repr`` never shows the PAT."""

    has_channel: bool = field(default=False, repr=False, compare=False)
    uaid: r.UserAppIDSet = field(init=False, repr=False, compare=False)
    metadata: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from . import requests as rq

        super().__post_init__()
        if (
            not self.secure
            and not self.has_channel
            and not self.allow_insecure
            and not is_loopback(self.target)
        ):
            raise ValidationError(
                f"secure=False would send the PAT in clear text to {self.target}, which is "
                "not a loopback address; pass allow_insecure=True if you really mean it"
            )
        object.__setattr__(self, "uaid", rq.user_app_id(self.user_id, self.app_id))
        object.__setattr__(self, "metadata", (("authorization", f"Key {self.pat}"),))

    @classmethod
    def of(cls, options: ClientOptions, has_channel: bool) -> ClientConfig:
        """The config of ``options`` (checked again: a caller may have bypassed them)."""
        return cls(**ClientOptions.settings(options), has_channel=has_channel)

    def settings(self) -> dict[str, Any]:
        """The keywords that rebuild the options (used for pickling)."""
        return ClientOptions.settings(self)

    @property
    def options(self) -> ClientOptions:
        return ClientOptions(**self.settings())

    def __repr__(self) -> str:
        return f"target={self.target!r}, user_id={self.user_id!r}, app_id={self.app_id!r}"


def env_settings(
    overrides: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Client keywords from ``CLARIFAI_*`` variables; ``overrides`` win.

    A variable that is needed but missing (and not overridden) raises a
    ValidationError naming it.
    """
    env = os.environ if environ is None else environ
    kwargs: dict[str, Any] = {}
    for key, var in (("pat", ENV_PAT), ("user_id", ENV_USER), ("app_id", ENV_APP)):
        if key in overrides:
            continue
        value = env.get(var, "")
        if not value.strip():
            raise ValidationError(f"environment variable {var} is not set (needed for {key})")
        kwargs[key] = value
    if "target" not in overrides and env.get(ENV_BASE, "").strip():
        kwargs["target"] = env[ENV_BASE]
    kwargs.update(overrides)
    return kwargs


def arguments_doc(channel_class: str) -> str:
    """The constructor arguments of a client taking a ``channel_class`` channel, from the
    fields of :class:`ClientOptions` (for the class docstrings)."""
    lines = ["", "Arguments (all keyword-only):", ""]
    for f in dataclasses.fields(ClientOptions):
        first, *rest = f.metadata["doc"].split("\n")
        if f.name == "user_id":
            continue  # documented with app_id
        name = "``user_id``, ``app_id``" if f.name == "app_id" else f"``{f.name}``"
        lines.append(f"- {name}: {first}")
        lines.extend(f"  {line}" for line in rest)
        if f.name == "secure":
            lines.append(f"- ``channel``: a {channel_class} of your own to use instead (never")
            lines.append("  closed by the client); ``target`` and ``secure`` are then ignored.")
    lines += [
        "",
        "``from_env()`` reads ``CLARIFAI_PAT``, ``CLARIFAI_USER_ID``,",
        "``CLARIFAI_APP_ID`` and ``CLARIFAI_GRPC_BASE``; ``from_options()`` takes a",
        ":class:`~taskgrpc.ClientOptions`. Bad arguments raise",
        ":class:`~taskgrpc.ValidationError`.",
        "",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BulkOptions:
    """One bulk call's batching: at most ``batch_size`` items and ``max_request_bytes``
    bytes (None: the client's) a request, ``concurrency`` requests at once."""

    batch_size: int = DEFAULT_BATCH_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    max_request_bytes: int | None = None

    def __post_init__(self) -> None:
        check_count(self.batch_size, "batch_size")
        check_count(self.concurrency, "concurrency")
        if self.max_request_bytes is not None:
            check_max_request_bytes(self.max_request_bytes)
