"""``python -m taskgrpc.cli``: the same as the ``taskgrpc`` console script."""

from . import main

main()
