"""Connection settings from flags and the environment (through ``_config.from_env``, the
one reader of ``CLARIFAI_*``): the PAT from ``CLARIFAI_PAT`` or ``--pat-file`` only."""

from __future__ import annotations

import argparse
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r

from .. import requests as rq
from .._config import from_env
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


def settings(args: argparse.Namespace, *, need_pat: bool = True) -> dict[str, Any]:
    """TaskClient keywords: flags win over ``CLARIFAI_*``; a missing one is a
    ValidationError naming the variable (and, in CLI terms, the flag)."""
    overrides: dict[str, Any] = {"timeout": args.timeout}
    if args.pat_file:
        overrides["pat"] = _pat_file(args.pat_file)
    elif not need_pat:
        overrides["pat"] = "-"  # a dry run sends nothing: no PAT needed
    for key in ("user_id", "app_id", "target"):
        value = getattr(args, key)
        if value:
            overrides[key] = value
    if args.insecure:
        overrides.update(secure=False, allow_insecure=args.allow_insecure)
    return from_env(overrides)


def open_client(args: argparse.Namespace) -> TaskClient:
    """A client for ``args``; bad settings raise before anything is sent."""
    return TaskClient(**settings(args))


def user_app(args: argparse.Namespace) -> r.UserAppIDSet:
    """The user and app requests go to, for a dry run (which needs no PAT)."""
    config = settings(args, need_pat=False)
    return rq.user_app_id(config["user_id"], config["app_id"])
