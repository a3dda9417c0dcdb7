"""The ``taskgrpc`` argument parser: the root, and one line per subcommand in COMMANDS."""

from __future__ import annotations

from types import ModuleType

from .. import __version__
from .._config import ENV_APP, ENV_BASE, ENV_PAT, ENV_USER
from .commands import create, delete, demo, get, lifecycle, set_status, update
from .commands import list as list_
from .options import Formatter, Parser, parents

#: Every subcommand, in help order. Adding one: a module in ``commands/`` with
#: ``add_parser(sub, parents)``, and its line here.
COMMANDS: tuple[ModuleType, ...] = (
    create,
    get,
    list_,
    update,
    set_status,
    delete,
    lifecycle,  # progress, export
    demo,
)

DESCRIPTION = f"""\
Manage Clarifai labeling tasks over gRPC.

environment:
  {ENV_PAT}        the personal access token (or --pat-file PATH; never a flag value)
  {ENV_USER}    the user id (or --user-id)
  {ENV_APP}     the app id (or --app-id)
  {ENV_BASE}  host or host:port (or --target; default api.clarifai.com)"""

EPILOG = """\
example:
  export CLARIFAI_PAT=... CLARIFAI_USER_ID=me CLARIFAI_APP_ID=my-app
  cat > tasks.jsonl <<'EOF'
  {"type": "CONCEPTS_CLASSIFICATION", "name": "cats", "concepts": [{"concept": {"id": "cat"}}],
   "worker": {"strategy": "FULL"}, "input_source": {"type": "ALL_INPUTS"}}
  EOF
  taskgrpc create --file tasks.jsonl --failures failed.jsonl
  taskgrpc list --format table

exit codes: 0 all done, 1 some items or calls failed, 2 usage error, 130 interrupted.
`taskgrpc COMMAND --help` shows each command's input and defaults."""


def build_parser() -> Parser:
    parser = Parser(
        prog="taskgrpc",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=Formatter,
        allow_abbrev=False,  # so that no "--pat" can pass for "--pat-file"
    )
    parser.add_argument("--version", action="version", version=f"taskgrpc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = parents()
    for command in COMMANDS:
        command.add_parser(sub, shared)
    return parser
