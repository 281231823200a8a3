"""The legacy upload protocol (file_upload, submit, doc_upload) of twine, setup.py and devpi-client."""

from __future__ import annotations

from html import escape
from typing import Any, Callable, Optional, cast

from twisted.logger import Logger
from twisted.web.iweb import IRequest

from devpi_twisted.auth.credentials import Authentication
from devpi_twisted.dists import docs, filenames, metadata
from devpi_twisted.dists.errors import DistError, InvalidDistribution
from devpi_twisted.dists.multipart import UploadForm, parse_form
from devpi_twisted.model import acl, releases
from devpi_twisted.model.errors import ModelError, PermissionDenied
from devpi_twisted.model.provenance import provenance_from_attestations
from devpi_twisted.model.releases import StoredBlob
from devpi_twisted.store.blobs import BlobStoreUnavailable, IBlobWriter, abort_all, finished_blob
from devpi_twisted.store.changelog import Transaction
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.incoming import authenticate, permission
from devpi_twisted.web.push import push
from devpi_twisted.web.replies import HTML, HTTPError, blob_store_status, body_reply, status_of
from devpi_twisted.web.routing import route_map
from devpi_twisted.web.transactions import commit

_HASH_FIELDS = {"md5_digest": "md5", "sha256_digest": "sha256", "blake2_256_digest": "blake2_256"}
_log = Logger()


def reason_reply(request: IRequest, status: int, message: str) -> bytes:
    """devpi's upload replies: the message is the status line's reason phrase."""
    reason = " ".join(message.split()).encode("latin-1", "replace")[:400]
    text = escape(f"{status} {message}")
    body = f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>\n"
    reply = body_reply(request, status, HTML, body.encode("utf-8", "replace"))
    request.setResponseCode(status, reason)
    return reply


class Uploads:
    """C{POST}/C{PUSH} to an index: uploads (multipart: parse, check, store, commit) and pushes (JSON)."""

    app = route_map()

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    @app.route("/<name:username>/<name:indexname>", methods=["POST", "PUSH"], strict_slashes=False)
    async def post_to_index(self, request: IRequest, username: str, indexname: str) -> bytes:
        auth = await authenticate(self._ctx, request)
        content_type = request.getHeader(b"content-type") or b""
        if content_type.lower().startswith(b"multipart/form-data"):
            return await self.handle(request, auth, username, indexname)
        return await push(self._ctx, request, auth, username, indexname)

    async def handle(
        self, request: IRequest, auth: Authentication, username: str, indexname: str
    ) -> bytes:
        """Answer an upload POST, with errors in devpi's reason-phrase form."""
        try:
            return await self._handle(request, auth, username, indexname)
        except HTTPError as error:
            for name, value in error.headers.items():
                request.setHeader(name, value)
            return reason_reply(request, error.status, error.message)
        except DistError as error:
            return reason_reply(request, 400, error.message)
        except BlobStoreUnavailable as error:
            return reason_reply(request, blob_store_status(error), str(error))
        except ModelError as error:
            return reason_reply(request, status_of(error), error.message)

    async def _handle(
        self, request: IRequest, auth: Authentication, username: str, indexname: str
    ) -> bytes:
        config = releases.stage_config(self._ctx.store, username, indexname)
        with permission(auth):
            if not acl.may_upload(auth.identity, config):
                raise PermissionDenied("no permission to submit")
        content_type = request.getHeader(b"content-type") or b""
        request.content.seek(0)
        form = await self._ctx.io(
            lambda: parse_form(request.content, content_type, lambda name: self._ctx.blobs.writer())
        )
        try:
            return await self._dispatch(request, form, auth, username, indexname)
        finally:
            await self._ctx.io(form.abort)

    async def _dispatch(
        self,
        request: IRequest,
        form: UploadForm,
        auth: Authentication,
        username: str,
        indexname: str,
    ) -> bytes:
        action = form.first(":action")
        who = auth.identity.username
        if action == "file_upload":
            return await self._file_upload(request, form, who, username, indexname)
        if action == "submit":
            meta = self._form_metadata(form)
            await commit(
                self._ctx,
                request,
                lambda txn: releases.register_version(txn, username, indexname, meta),
            )
            return reason_reply(request, 200, "OK")
        if action == "doc_upload":
            return await self._doc_upload(request, form, who, username, indexname)
        raise InvalidDistribution(f"action {action!r} not supported")

    def _form_metadata(self, form: UploadForm) -> dict[str, Any]:
        meta = metadata.metadata_from_form(form.fields)
        filenames.check_project_name(meta["name"])
        filenames.check_version(meta["version"])
        return meta

    def _content(self, form: UploadForm) -> tuple[str, IBlobWriter]:
        if "content" not in form.files:
            raise InvalidDistribution("content file field not found")
        filename, writer, _ = form.files["content"]
        return filename, cast(IBlobWriter, writer)  # parse_form was given blob writers

    async def _file_upload(
        self, request: IRequest, form: UploadForm, who: Optional[str], username: str, indexname: str
    ) -> bytes:
        form_meta = self._form_metadata(form)
        filename, writer = self._content(form)
        filenames.check_archive_name(filename)
        filenames.check_matches(filename, form_meta["name"], form_meta["version"])
        digests = writer.digests()
        for field, algorithm in _HASH_FIELDS.items():
            expected = form.first(field)
            if expected and expected.strip().lower() != digests[algorithm]:
                raise InvalidDistribution(
                    f"{field} mismatch: the uploaded {filename} has {algorithm} "
                    f"{digests[algorithm]}, the form says {expected.strip()}"
                )
        sha256 = await self._ctx.io(writer.finish)
        core_metadata = None
        meta = form_meta
        if metadata.carries_metadata(filename):
            raw = await self._ctx.io(
                lambda: metadata.read_core_metadata(writer.temp_path, filename)
            )
            file_meta = metadata.parse_core_metadata(raw)
            metadata.check_form_matches(form_meta, file_meta)
            meta = dict(file_meta, name=form_meta["name"])
            if filenames.is_wheel(filename):
                core_metadata = raw
        attestations = form.first("attestations")
        provenance = (
            provenance_from_attestations(attestations, who) if attestations else None
        )
        blob, writers = await self._ctx.io(
            lambda: self._stored(writer, sha256, filename, core_metadata, provenance)
        )
        now = self._ctx.clock.seconds()
        try:
            outcome = await self._store(
                request,
                lambda txn: releases.add_release_file(txn, username, indexname, meta, blob, who, now),
                writers,
            )
        finally:
            # the METADATA and provenance blobs are not part of the form: thrown away unless published
            await self._ctx.io(lambda: abort_all(writers[1:]))
        _log_upload(who, username, indexname, meta["name"], meta["version"], blob, outcome.identical)
        return reason_reply(request, 200, releases.upload_message(self._ctx.store, username, indexname, outcome))

    def _stored(
        self,
        writer: IBlobWriter,
        sha256: str,
        filename: str,
        core_metadata: Optional[bytes],
        provenance: Optional[bytes] = None,
    ) -> tuple[StoredBlob, list[IBlobWriter]]:
        """The finished upload as a blob, with the wheel's METADATA and the provenance as blobs of their own."""
        writers = [writer]
        extra: list[Optional[str]] = []
        for data in (core_metadata, provenance):
            if data is None:
                extra.append(None)
                continue
            extra_writer = finished_blob(self._ctx.blobs, data)
            writers.append(extra_writer)
            extra.append(extra_writer.digests()["sha256"])
        meta_sha256, provenance_sha256 = extra
        blob = StoredBlob(
            filename, sha256, writer.size, meta_sha256, provenance_sha256=provenance_sha256
        )
        return blob, writers

    async def _store(
        self,
        request: IRequest,
        change: Callable[[Transaction], releases.Outcome],
        writers: list[IBlobWriter],
    ) -> releases.Outcome:
        def work(txn: Transaction) -> releases.Outcome:
            outcome = change(txn)
            if not outcome.identical:
                for writer in writers:
                    txn.before_commit(writer.publish)
            return outcome

        return await commit(self._ctx, request, work)

    async def _doc_upload(
        self, request: IRequest, form: UploadForm, who: Optional[str], username: str, indexname: str
    ) -> bytes:
        name = filenames.check_project_name(form.first("name"))
        version = form.first("version") or None
        if version is not None:
            filenames.check_version(version)
        filename, writer = self._content(form)
        sha256 = await self._ctx.io(writer.finish)
        await self._ctx.io(lambda: docs.check_doc_zip(writer.temp_path))
        blob, writers = await self._ctx.io(lambda: self._stored(writer, sha256, filename, None))
        outcome = await self._store(
            request,
            lambda txn: releases.add_doczip(
                txn, username, indexname, name, version, blob, who, self._ctx.clock.seconds()
            ),
            writers,
        )
        _log_upload(who, username, indexname, name, version, blob, outcome.identical)
        return reason_reply(request, 200, "OK")


def _log_upload(
    who: Optional[str],
    username: str,
    indexname: str,
    project: str,
    version: Optional[str],
    blob: StoredBlob,
    identical: bool,
) -> None:
    """Log a stored upload as one event with its fields."""
    _log.info(
        "{user} uploaded {filename} ({size} bytes) to {index}",
        user=who or "-",
        index=f"{username}/{indexname}",
        project=project,
        version=version,
        filename=blob.filename,
        size=blob.size,
        identical=identical,
    )
