"""C{python -m devpi_twisted}: the same as the C{devpi-twisted} command."""

import sys

from devpi_twisted.commands import main

sys.exit(main())
