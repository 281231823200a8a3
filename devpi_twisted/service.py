"""makeService: the devpi-twisted server as a tree of Twisted services."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Optional, Union

from twisted.application.service import MultiService, Service
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    Logger,
    globalLogPublisher,
)
from twisted.python.threadpool import ThreadPool
from twisted.web.client import Agent, HTTPConnectionPool
from treq.client import HTTPClient
from twisted.web.server import Site

from devpi_twisted import __version__
from devpi_twisted.auth.credentials import Authenticator
from devpi_twisted.auth.passwords import PasswordHasher
from devpi_twisted.auth.replicas import ReplicaTokens
from devpi_twisted.auth.tokens import TokenSigner
from devpi_twisted.auth.verified import VerifiedPasswords
from devpi_twisted.metrics import Metrics
from devpi_twisted.mirror.checks import PageChecks, PageChecksService
from devpi_twisted.mirror.files import MirrorFiles
from devpi_twisted.mirror.pages import MirrorPages
from devpi_twisted.mirror.projects import MirrorProjects
from devpi_twisted.mirror.warmer import Warmer
from devpi_twisted.mirror.upstream import PooledHTTPClient, UpstreamClient, make_http_client
from devpi_twisted.model.acl import Policy
from devpi_twisted.model.bootstrap import bootstrap
from devpi_twisted.model.records import IndexConfig
from devpi_twisted.options import Options
from devpi_twisted.replication.blobs import BlobFetcher
from devpi_twisted.replication.feed import ReplicaFeeds
from devpi_twisted.replication.follower import Follower
from devpi_twisted.replication.gauges import watch_feeds, watch_replica
from devpi_twisted.replication.mirror import PrimaryMirrorPages
from devpi_twisted.replication.status import ReplicaStatus
from devpi_twisted.serverdir import (
    BLOBS,
    MIRROR_CHECKS,
    MIRROR_LISTS,
    SEARCH,
    STORE,
    ServerDir,
    ServerDirError,
    open_serverdir,
    read_secret,
    secret_path,
)
from devpi_twisted.search.indexer import Indexer
from devpi_twisted.search.service import SearchService
from devpi_twisted.search.sqlite import SQLiteSearch
from devpi_twisted.store.blobs import IBlobStore
from devpi_twisted.store.changelog import Store
from devpi_twisted.store.locations import BadLocation
from devpi_twisted.store.sqlite import SQLiteBackend
from devpi_twisted.threads import Runner, pool_runner
from devpi_twisted.web.app import make_resource
from devpi_twisted.web.context import Access, Mirrors, Replica, Replication, ServerInfo, WebContext
from devpi_twisted.web.relay import Forwarder
from devpi_twisted.web.site import DevpiSite


class StoreService(Service):
    """Owns the store's writer thread, the blob store and the server directory lock."""

    def __init__(
        self, store: Store, writer: ThreadPool, blobs: IBlobStore, serverdir: ServerDir
    ) -> None:
        self._store = store
        self._writer = writer
        self._blobs = blobs
        self._serverdir = serverdir

    def startService(self) -> None:
        super().startService()
        self._writer.start()

    def stopService(self) -> None:
        super().stopService()
        self._writer.stop()
        self._store.close()
        self._blobs.close()
        self._serverdir.close()


class UpstreamService(Service):
    """Owns the upstream connection pool: closes its connections on stop."""

    def __init__(self, http: PooledHTTPClient) -> None:
        self._http = http

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self._http.close()


class WebService(Service):
    """Listens on C{endpoint} with C{site} and says where it serves."""

    def __init__(
        self, endpoint: IStreamServerEndpoint, site: Site, info: ServerInfo, log: Logger
    ) -> None:
        self._endpoint = endpoint
        self._site = site
        self._info = info
        self._log = log
        self._port: Optional[IListeningPort] = None
        self.listening: Deferred[IListeningPort] = Deferred()

    def startService(self) -> None:
        super().startService()
        d = self._endpoint.listen(self._site)
        d.addCallback(self._started)
        d.addErrback(self.listening.errback)

    def _started(self, port: IListeningPort) -> None:
        self._port = port
        address = port.getHost()
        # a TCP endpoint's address; another kind (unix:) is shown whole
        number: Union[int, str]
        if isinstance(address, (IPv4Address, IPv6Address)):
            host, number = address.host, address.port
        else:
            host, number = str(address), ""
        url = self._info.outside_url or f"http://{host}:{number}/"
        self._log.info(
            "devpi-twisted {version} serving {url} (listening on {host}:{port}),"
            " data in {serverdir}, files in {blobs}",
            version=self._info.version,
            url=url,
            host=host,
            port=number,
            serverdir=self._info.serverdir,
            blobs=self._info.blobs,
        )
        self.listening.callback(port)

    def stopService(self) -> Optional[Deferred[None]]:
        super().stopService()
        if self._port is None:
            return None
        return self._port.stopListening()


def replicate(
    options: Options,
    serverdir: ServerDir,
    store: Store,
    blobs: IBlobStore,
    tokens: ReplicaTokens,
    io: Runner,
    reactor: Any,
    log: Logger,
    metrics: Metrics,
    parent: MultiService,
) -> tuple[Replica, UpstreamClient]:
    """
    The replica side (its store follows the primary, writes are relayed
    there) and the client its mirrors use to ask the primary.
    """
    store.read_only = True
    primary_url = options["primary-url"]
    status = ReplicaStatus(primary_url, reactor.seconds(), serverdir.primary_uuid)
    user_agent = f"devpi-twisted/{__version__} replica {serverdir.uuid}"
    http = make_http_client(reactor, pool_size=8)
    UpstreamService(http).setServiceParent(parent)
    client = UpstreamClient(
        reactor,
        http,
        max_retries=options["upstream-max-retries"],
        timeout=options["request-timeout"],
        rng=random.Random(),
        log=log,
        user_agent=user_agent,
        metrics=metrics,
    )
    fetcher = BlobFetcher(
        blobs, client, lambda: b"Bearer " + tokens.issue(serverdir.uuid).encode(), status, io, reactor, log
    )
    relay_pool = HTTPConnectionPool(reactor, persistent=True)
    stream_pool = HTTPConnectionPool(reactor, persistent=False)
    for pool in (relay_pool, stream_pool):
        UpstreamService(PooledHTTPClient(Agent(reactor, pool=pool), pool)).setServiceParent(parent)
    forwarder = Forwarder(
        HTTPClient(Agent(reactor, pool=relay_pool)),
        store,
        status,
        serverdir.uuid,
        options["outside-url"],
        options["proxy-timeout"],
        log,
    )
    follower = Follower(
        store,
        blobs,
        fetcher.want,
        HTTPClient(Agent(reactor, pool=stream_pool)),
        tokens,
        serverdir.uuid,
        options["outside-url"],
        status,
        serverdir.remember_primary,
        io,
        reactor,
        random.Random(),
        log,
    )
    fetcher.setServiceParent(parent)
    follower.setServiceParent(parent)
    return Replica(status, fetcher, forwarder), client


@dataclass(frozen=True)
class MirrorSettings:
    """How mirror indexes follow upstream."""

    #: where the project lists of mirror indexes are kept
    lists_dir: str
    #: seconds a cached page or list stays fresh (an index may say otherwise)
    cache_expiry: float
    #: serve only what is stored, never ask upstream
    offline: bool
    #: seconds a request waits for a page refresh before it is served the stale copy
    patience: float = 5.0
    #: on a replica: the primary, whom mirrors ask instead of upstream
    primary_url: Optional[str] = None
    #: where the times pages were last confirmed are kept (None: in memory only)
    checks_dir: Optional[str] = None


def web_context(
    *,
    store: Store,
    blobs: IBlobStore,
    info: ServerInfo,
    reactor: Any,
    io: Runner,
    hasher: PasswordHasher,
    signer: TokenSigner,
    policy: Policy,
    upstream: UpstreamClient,
    mirror: MirrorSettings,
    log: Logger,
    metrics: Metrics,
    replication: Replication = Replication(),
    blob_redirect: Optional[int] = None,
    search: Optional[Indexer] = None,
) -> WebContext:
    """
    What the request handlers work with, built from the server's parts (the
    service passes real ones, tests in-memory ones): the one place a new
    collaborator is wired in.
    """
    primary_url = mirror.primary_url
    pages = (MirrorPages if primary_url is None else partial(PrimaryMirrorPages, primary_url))(
        store,
        upstream,
        reactor,
        io,
        mirror.cache_expiry,
        mirror.offline,
        log,
        patience=mirror.patience,
        checks=PageChecks(reactor, io, mirror.checks_dir),
    )
    list_url: Optional[Callable[[str, IndexConfig], str]] = None
    if primary_url is not None:
        list_url = lambda name, config: f"{primary_url}{name}/+simple/"  # noqa: E731
    mirrors = Mirrors(
        pages,
        MirrorFiles(store, blobs, upstream, pages, reactor, io, mirror.offline, log),
        MirrorProjects(
            store, upstream, reactor, io, mirror.lists_dir, mirror.cache_expiry, mirror.offline, log, list_url
        ),
    )
    access = Access(Authenticator(store, hasher, signer, VerifiedPasswords(reactor)), hasher, signer, policy)
    if search is not None:
        mirrors.projects.subscribe(search.mirror_names)
    return WebContext(
        store, blobs, info, reactor, io, access, mirrors, replication,
        metrics=metrics, blob_redirect=blob_redirect, search=search,
    )


def makeService(options: Options, reactor: Any = None) -> MultiService:
    """
    Open (or create) the server directory and build the server's services.
    Raises L{devpi_twisted.serverdir.ServerDirError} when it cannot be used.
    """
    if reactor is None:
        from twisted.internet import reactor
    observer = FilteringLogObserver(
        globalLogPublisher,
        [LogLevelFilterPredicate(LogLevel.levelWithName(options["log-level"]))],
    )
    log = Logger(namespace="devpi_twisted", observer=observer)
    metrics = Metrics()
    serverdir = open_serverdir(options["serverdir"])
    try:
        secret = read_secret(
            secret_path(serverdir, options["secretfile"]),
            create=not options["secretfile"],
        )
    except ServerDirError:
        serverdir.close()
        raise
    try:
        blobs = options.blob_location().open(serverdir.path, serverdir.join(BLOBS))
    except BadLocation as error:
        serverdir.close()
        raise ServerDirError(str(error))
    writer = ThreadPool(minthreads=1, maxthreads=1, name="devpi-store-writer")
    store = Store(
        SQLiteBackend(serverdir.join(STORE), durable=options["role"] != "replica"),
        pool_runner(reactor, writer),
        reactor,
    )
    hasher = PasswordHasher(pool_runner(reactor, reactor.getThreadPool()))
    role = options["role"]
    if store.serial < 0 and role != "replica":
        pwhash = hasher.hash_now(options["root-passwd"])
        store.transact_now(lambda txn: bootstrap(txn, pwhash, time.time()))
    info = ServerInfo(
        uuid=serverdir.uuid,
        role=role,
        serverdir=serverdir.path,
        host=options["host"],
        port=options["port"],
        outside_url=options["outside-url"],
        version=__version__,
        blobs=blobs.location,
    )
    signer = TokenSigner(secret, reactor)
    io = pool_runner(reactor, reactor.getThreadPool())
    offline = bool(options["offline-mode"])
    http = make_http_client(reactor, pool_size=8)
    client = UpstreamClient(
        reactor,
        http,
        max_retries=options["upstream-max-retries"],
        timeout=options["request-timeout"],
        rng=random.Random(),
        log=log,
        user_agent=f"devpi-twisted/{__version__}",
        metrics=metrics,
    )
    top = MultiService()
    store_service = StoreService(store, writer, blobs, serverdir)
    store_service.setName("store")
    store_service.setServiceParent(top)
    UpstreamService(http).setServiceParent(top)
    replica_tokens = ReplicaTokens(secret, reactor) if role != "standalone" else None
    feeds: Optional[ReplicaFeeds] = None
    replica: Optional[Replica] = None
    if role == "primary":
        feeds = ReplicaFeeds(store, io, reactor, options["replication-heartbeat"], log)
        feeds.setServiceParent(top)
        watch_feeds(metrics, feeds)
    elif role == "replica":
        assert replica_tokens is not None
        replica, client = replicate(
            options, serverdir, store, blobs, replica_tokens, io, reactor, log, metrics, top
        )
        watch_replica(metrics, replica.status, store, reactor)
    mirror = MirrorSettings(
        serverdir.join(MIRROR_LISTS),
        options["mirror-cache-expiry"],
        offline,
        patience=options["request-timeout"],
        primary_url=options["primary-url"] if replica is not None else None,
        checks_dir=serverdir.join(MIRROR_CHECKS),
    )
    search_index = SQLiteSearch(serverdir.join(SEARCH))
    search_writer = ThreadPool(minthreads=1, maxthreads=1, name="devpi-search-writer")
    search = Indexer(
        store, search_index, pool_runner(reactor, search_writer), io,
        blobs, log,
    )
    ctx = web_context(
        store=store,
        blobs=blobs,
        info=info,
        reactor=reactor,
        io=io,
        hasher=hasher,
        signer=signer,
        policy=Policy(options.restrict_modify()),
        upstream=client,
        mirror=mirror,
        log=log,
        metrics=metrics,
        replication=Replication(replica_tokens, feeds, replica),
        blob_redirect=options["blob-redirect-expiry"] if options["blob-redirect"] else None,
        search=search,
    )
    SearchService(search, search_index, search_writer, store, ctx.mirrors.projects, log).setServiceParent(top)
    PageChecksService(ctx.mirrors.pages.checks).setServiceParent(top)
    if replica is None and not offline and options["mirror-warm-days"] > 0:
        Warmer(
            store,
            ctx.mirrors.pages,
            client,
            reactor,
            log,
            days=options["mirror-warm-days"],
            concurrency=options["mirror-warm-concurrency"],
        ).setServiceParent(top)
    site = DevpiSite(
        make_resource(ctx),
        options["max-request-body-size"],
        metrics,
        Logger(namespace="devpi_twisted.access", observer=observer),
    )
    site.displayTracebacks = False
    endpoint = serverFromString(reactor, options.endpoint_description())
    web = WebService(endpoint, site, info, log)
    web.setName("web")
    web.setServiceParent(top)
    return top
