"""The C{twistd devpi} plugin."""

from twisted.application.service import IService, IServiceMaker
from twisted.plugin import IPlugin
from zope.interface import implementer

from devpi_twisted.options import Options


@implementer(IServiceMaker, IPlugin)
class DevpiServiceMaker:
    """Makes the devpi-twisted server service for twistd."""

    tapname = "devpi"
    description = "devpi-twisted: PyPI caching mirror and private package index"
    options = Options

    def makeService(self, options: Options) -> IService:
        from devpi_twisted.service import makeService
        from devpi_twisted.serverdir import ServerDirError

        try:
            return makeService(options)
        except ServerDirError as error:
            raise SystemExit(f"devpi-twisted: error: {error}")


serviceMaker = DevpiServiceMaker()
