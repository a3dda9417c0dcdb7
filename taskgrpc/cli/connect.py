"""Connection settings from flags and the environment: one :class:`ClientOptions`, built by
``ClientOptions.from_env`` (the one reader of ``CLARIFAI_*``; flags win). The PAT comes from
``CLARIFAI_PAT`` or ``--pat-file`` only."""

from __future__ import annotations

import argparse
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r

from .. import requests as rq
from .._options import ClientOptions, env_settings
from ..client import TaskClient
from .errors import UsageError


def _pat_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            pat = f.read().strip()
    except OSError as err:
        raise UsageError(f"cannot read --pat-file: {err.strerror}") from None
    if not pat:
        raise UsageError("--pat-file is empty")
    return pat


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The client settings the flags give (they win over ``CLARIFAI_*``)."""
    given: dict[str, Any] = {"timeout": args.timeout}
    if args.pat_file:
        given["pat"] = _pat_file(args.pat_file)
    for key in ("user_id", "app_id", "target"):
        value = getattr(args, key)
        if value:
            given[key] = value
    if args.insecure:
        given.update(secure=False, allow_insecure=args.allow_insecure)
    return given


def options(args: argparse.Namespace) -> ClientOptions:
    """The client options for ``args``; a missing or bad setting is a ValidationError
    naming the variable (and, in CLI terms, the flag)."""
    return ClientOptions.from_env(**overrides(args))


def open_client(args: argparse.Namespace) -> TaskClient:
    """A client for ``args``; bad settings raise before anything is sent."""
    return TaskClient.from_options(options(args))


def user_app(args: argparse.Namespace) -> r.UserAppIDSet:
    """The user and app requests go to, for a dry run (which needs no PAT)."""
    settings = env_settings({"pat": None, **overrides(args)})
    return rq.user_app_id(settings["user_id"], settings["app_id"])
