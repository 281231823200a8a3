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
        """
        The server; under twistd (C{options.parent}) within services that make
        twistd log through our observer (C{--log-level}, C{--log-format}) to
        where twistd would have logged (unless it logs to syslog or C{--logger}).
        """
        from devpi_twisted.logs import LoggingServices, make_observer, twistd_log_file
        from devpi_twisted.service import makeService
        from devpi_twisted.serverdir import ServerDirError

        try:
            service = makeService(options)
        except ServerDirError as error:
            raise SystemExit(f"devpi-twisted: error: {error}")
        twistd_options = getattr(options, "parent", None)
        out = None if twistd_options is None else twistd_log_file(twistd_options)
        if out is None:
            return service
        logging = LoggingServices(make_observer(out, options["log-format"], options["log-level"]))
        service.setServiceParent(logging)
        return logging


serviceMaker = DevpiServiceMaker()
