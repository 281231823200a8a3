"""`twistd -ny devpi.tac`: the devpi-twisted server configured by DEVPI_TWISTED_* variables."""

from twisted.application.service import Application

from devpi_twisted.options import Options
from devpi_twisted.serverdir import ServerDirError
from devpi_twisted.service import makeService

options = Options()
options.parseOptions([])
application = Application("devpi")
try:
    makeService(options).setServiceParent(application)
except ServerDirError as error:
    raise SystemExit(f"devpi-twisted: error: {error}")
