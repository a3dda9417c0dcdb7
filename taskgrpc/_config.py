"""The client settings' defaults and checks, and opening a channel (the options objects
that use them are in ``_options``)."""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from .errors import ValidationError

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


def open_channel(config: Any, grpc_module: Any) -> Any:
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


def check_count(value: object, name: str) -> int:
    """``value`` if it is an integer >= 1 (not a bool); ValidationError naming ``name``
    otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def check_max_request_bytes(value: object) -> int:
    """``value`` if it is an integer >= 1; ValidationError otherwise."""
    return check_count(value, "max_request_bytes")
