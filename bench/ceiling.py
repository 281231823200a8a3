"""
The ceiling of the simple page benchmark: a bare twisted.web resource that
answers every GET with the same bytes from memory (and 304 to a matching
If-None-Match when given an ETag). Started by bench/run.py with a Python that
has Twisted (the project's venv).

    python bench/ceiling.py --port PORT --body FILE [--content-type T] [--etag E]
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", required=True, help="file with the bytes to serve")
    parser.add_argument("--content-type", default="text/html; charset=utf-8")
    parser.add_argument("--etag", default=None, help="ETag value (with its quotes)")
    args = parser.parse_args(argv)

    from twisted.internet import reactor
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    with open(args.body, "rb") as f:
        body = f.read()
    content_type = args.content_type.encode("ascii")
    etag = args.etag.encode("ascii") if args.etag else None

    class Page(Resource):
        isLeaf = True

        def render_GET(self, request):  # type: ignore[no-untyped-def]
            request.setHeader(b"content-type", content_type)
            if etag is not None:
                request.setHeader(b"etag", etag)
                if request.getHeader(b"if-none-match") == etag:
                    request.setResponseCode(304)
                    return b""
            return body

    site = Site(Page())
    site.noisy = False
    reactor.listenTCP(args.port, site, interface="127.0.0.1")
    print(f"ceiling serving {len(body)} bytes on 127.0.0.1:{args.port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
