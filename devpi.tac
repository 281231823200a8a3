"""`twistd -ny devpi.tac`: the devpi-twisted server configured by DEVPI_TWISTED_* variables, logging to stdout."""

import sys

from twisted.application.service import Application
from twisted.logger import ILogObserver

from devpi_twisted.logs import make_observer
from devpi_twisted.options import Options
from devpi_twisted.serverdir import ServerDirError
from devpi_twisted.service import makeService

options = Options()
options.parseOptions([])
application = Application("devpi")
application.setComponent(
    ILogObserver, make_observer(sys.stdout, options["log-format"], options["log-level"])
)
try:
    makeService(options).setServiceParent(application)
except ServerDirError as error:
    raise SystemExit(f"devpi-twisted: error: {error}")
