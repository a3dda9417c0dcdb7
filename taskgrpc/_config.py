"""Settings shared by the sync and async clients, and the one place that reads the env."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from typing import Any

from . import requests as rq
from .errors import ValidationError
from .retry import DEFAULT, Default, RetryPolicy, TokenBucket

DEFAULT_HOST = "api.clarifai.com"
DEFAULT_PORT = 443
DEFAULT_TARGET = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
DEFAULT_TIMEOUT = 30.0

#: A timeout of this many seconds (about 31 years) or more, ``math.inf`` included, means
#: no deadline: gRPC's deadline arithmetic overflows on such values (from about 1e10 s
#: every call would fail at once).
NO_DEADLINE_FROM = 1e9

#: The default byte budget of one bulk request (``max_request_bytes``): 3 MiB, safely under
#: gRPC's default 4 MiB limit on a received message (``grpc.max_receive_message_length``).
DEFAULT_MAX_REQUEST_BYTES = 3 * 1024 * 1024

#: Channel options for channels taskgrpc opens itself. No service-config retry
#: policy: taskgrpc's own retry layer owns UNAVAILABLE (see ``retry.py``).
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 1024 * 1024 * 1024),
    ("grpc.max_send_message_length", 1024 * 1024 * 1024),
    # a channel made in a forked child must not pick up a connection inherited from the parent
    ("grpc.use_local_subchannel_pool", 1),
]

ENV_PAT = "CLARIFAI_PAT"
ENV_USER = "CLARIFAI_USER_ID"
ENV_APP = "CLARIFAI_APP_ID"
ENV_BASE = "CLARIFAI_GRPC_BASE"


#: The constructor arguments, for the class docstrings of both clients (CHANNEL is replaced by
#: the channel class each takes).
CLIENT_ARGUMENTS_DOC = """
Arguments (all keyword-only):

- ``pat``: the Personal Access Token, sent as ``authorization: Key <pat>``;
  printable ASCII, never shown in reprs, logs or errors.
- ``user_id``, ``app_id``: the app every request addresses (``user_app_id``).
- ``target``: ``host`` or ``host:port`` (port 443 by default); default
  ``api.clarifai.com:443``.
- ``secure``: TLS (default ``True``); ``False`` for a plaintext server such
  as the fake.
- ``channel``: a CHANNEL of your own to use instead (never closed by
  the client); ``target`` and ``secure`` are then ignored.
- ``timeout``: the default time budget of each call in seconds, retries
  included (default 30; ``None``, ``math.inf`` or 1e9 or more for none).
- ``retry``: the default :class:`~taskgrpc.RetryPolicy`, or ``None`` for no
  retries (default: ``RetryPolicy()``).
- ``max_rps``: a client-wide cap on requests per second (default: none).
- ``max_request_bytes``: the byte budget of one ``create_many`` or
  ``update_many`` request (default 3 MiB, under gRPC's 4 MiB).
- ``allow_insecure``: allow ``secure=False`` to a non-loopback host, which
  sends the PAT in clear text (default ``False``).

``from_env()`` reads ``CLARIFAI_PAT``, ``CLARIFAI_USER_ID``,
``CLARIFAI_APP_ID`` and ``CLARIFAI_GRPC_BASE``. Bad arguments raise
:class:`~taskgrpc.ValidationError`.

"""


def normalize_target(base: str) -> str:
    """``host`` or ``host:port`` (IPv6 in brackets) to ``host:port``, 443 by default."""
    if not isinstance(base, str):
        raise ValidationError(f"target must be a string (host or host:port), got {base!r}")
    base = base.strip()
    if not base:
        raise ValidationError("target must not be empty")
    if "://" in base:
        raise ValidationError(f"target must be host or host:port, without a scheme, got {base!r}")
    if base.startswith("["):
        return base if "]:" in base else f"{base}:{DEFAULT_PORT}"
    if base.count(":") == 1:
        host, _, port = base.partition(":")
        if not host or not port.isdigit():
            raise ValidationError(f"target must be host or host:port, got {base!r}")
        return base
    if base.count(":") > 1:  # a bare IPv6 address
        return f"[{base}]:{DEFAULT_PORT}"
    return f"{base}:{DEFAULT_PORT}"


def is_loopback(target: str) -> bool:
    """Whether ``target``'s host is loopback: 127.0.0.0/8, ``localhost`` or ``::1``."""
    host = target.rsplit(":", 1)[0] if not target.startswith("[") else target[1:].split("]")[0]
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_channel(config: ClientConfig, grpc_module: Any) -> Any:
    """A new channel to ``config.target``: ``grpc_module`` is ``grpc`` or ``grpc.aio``."""
    import grpc

    if config.secure:
        return grpc_module.secure_channel(
            config.target, grpc.ssl_channel_credentials(), options=CHANNEL_OPTIONS
        )
    return grpc_module.insecure_channel(config.target, options=CHANNEL_OPTIONS)


def check_pat(pat: object) -> str:
    """``pat`` if it can be sent as the ``authorization`` header value.

    gRPC accepts only printable ASCII (0x20-0x7E) in a text metadata value; anything
    else would fail at call time with a raw grpc error. The message never shows the PAT.
    """
    if not isinstance(pat, str) or not pat.strip():
        raise ValidationError("pat must be a non-empty string")
    if not pat.isascii() or not pat.isprintable():
        raise ValidationError(
            "pat must be printable ASCII (gRPC refuses other characters in a header value); "
            "check for a stray line break, tab or non-ASCII character"
        )
    return pat


def check_timeout(timeout: float | None) -> float | None:
    """``timeout`` if it is None or a positive number; ValidationError otherwise.

    A value of :data:`NO_DEADLINE_FROM` or more (``math.inf`` included) comes back
    as ``math.inf``: no deadline (see :func:`deadline_of`).
    """
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise ValidationError(f"timeout must be a positive number or None, got {timeout!r}")
    if timeout is not None and timeout >= NO_DEADLINE_FROM:
        return math.inf
    return timeout


def deadline_of(timeout: float | None, now: float) -> float | None:
    """The monotonic deadline of a call of ``timeout`` seconds started at ``now``;
    None (no deadline) for None or a timeout of :data:`NO_DEADLINE_FROM` or more."""
    if timeout is None or timeout >= NO_DEADLINE_FROM:
        return None
    return now + timeout


def check_max_request_bytes(value: object) -> int:
    """``value`` if it is an integer >= 1; ValidationError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"max_request_bytes must be an integer >= 1, got {value!r}")
    return value


class ClientConfig:
    """Validated client settings. ``repr`` never shows the PAT."""

    __slots__ = (
        "allow_insecure",
        "app_id",
        "max_request_bytes",
        "max_rps",
        "metadata",
        "pat",
        "retry",
        "secure",
        "target",
        "timeout",
        "uaid",
        "user_id",
    )

    def __init__(
        self,
        *,
        pat: str,
        user_id: str,
        app_id: str,
        target: str = DEFAULT_TARGET,
        secure: bool = True,
        timeout: float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | Default | None = DEFAULT,
        max_rps: float | None = None,
        allow_insecure: bool = False,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        has_channel: bool = False,
    ) -> None:
        check_pat(pat)
        self.uaid = rq.user_app_id(user_id, app_id)
        self.pat = pat
        self.user_id = user_id
        self.app_id = app_id
        self.target = normalize_target(target)
        self.secure = bool(secure)
        self.timeout = check_timeout(timeout)
        if retry is DEFAULT:
            retry = RetryPolicy()
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ValidationError(f"retry must be a RetryPolicy or None, got {retry!r}")
        self.retry = retry
        if max_rps is not None:
            TokenBucket(max_rps)  # validates
        self.max_rps = max_rps
        self.max_request_bytes = check_max_request_bytes(max_request_bytes)
        self.allow_insecure = bool(allow_insecure)
        if (
            not self.secure
            and not has_channel
            and not allow_insecure
            and not is_loopback(self.target)
        ):
            raise ValidationError(
                f"secure=False would send the PAT in clear text to {self.target}, which is "
                "not a loopback address; pass allow_insecure=True if you really mean it"
            )
        self.metadata: tuple[tuple[str, str], ...] = (("authorization", f"Key {pat}"),)

    def settings(self) -> dict[str, Any]:
        """The constructor keywords that rebuild this config (used for pickling)."""
        return {
            "pat": self.pat,
            "user_id": self.user_id,
            "app_id": self.app_id,
            "target": self.target,
            "secure": self.secure,
            "timeout": self.timeout,
            "retry": self.retry,
            "max_rps": self.max_rps,
            "allow_insecure": self.allow_insecure,
            "max_request_bytes": self.max_request_bytes,
        }

    def __repr__(self) -> str:
        return f"target={self.target!r}, user_id={self.user_id!r}, app_id={self.app_id!r}"


def from_env(
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
