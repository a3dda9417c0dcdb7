"""``python -m fake_servicer``: see :mod:`fake_servicer.cli`."""

import sys

from fake_servicer.cli import main

sys.exit(main())
