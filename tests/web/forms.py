"""Legacy upload bodies as twine and devpi-client send them, and helpers that post them."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import io
import os
import tarfile
import uuid
import zipfile
from typing import BinaryIO, Iterable, Mapping, Optional, Union

from tests.support import MemoryServer, Reply

#: One form field: a text value, or several (sent as repeated parts).
FieldValue = Union[str, list[str]]
#: A file part: (client file name, its bytes or the path of a file holding them).
FilePart = tuple[str, Union[bytes, str]]

# METADATA header -> the form field twine sends it as (twine's _RAW_TO_PACKAGE_METADATA)
_TEXT_HEADERS = {
    "Metadata-Version": "metadata_version",
    "Name": "name",
    "Version": "version",
    "Summary": "summary",
    "Home-page": "home_page",
    "Author": "author",
    "Author-email": "author_email",
    "Maintainer": "maintainer",
    "Maintainer-email": "maintainer_email",
    "License": "license",
    "Keywords": "keywords",
    "Download-URL": "download_url",
    "Requires-Python": "requires_python",
    "Description-Content-Type": "description_content_type",
    "License-Expression": "license_expression",
}
_LIST_HEADERS = {
    "Platform": "platform",
    "Supported-Platform": "supported_platform",
    "Classifier": "classifiers",
    "Requires-Dist": "requires_dist",
    "Provides-Dist": "provides_dist",
    "Obsoletes-Dist": "obsoletes_dist",
    "Requires-External": "requires_external",
    "Project-URL": "project_urls",
    "Provides-Extra": "provides_extras",
    "Dynamic": "dynamic",
    "License-File": "license_file",
}
_COPY_SIZE = 1024 * 1024


def _items(fields: Mapping[str, Optional[FieldValue]]) -> Iterable[tuple[str, str]]:
    for name, value in fields.items():
        if value is None:
            continue
        for single in [value] if isinstance(value, str) else value:
            yield name, single


def write_form(
    out: BinaryIO,
    fields: Mapping[str, Optional[FieldValue]],
    files: Mapping[str, FilePart],
    boundary: str,
) -> None:
    """Write a C{multipart/form-data} body to C{out}, copying file paths in chunks.

    Fields come first, in order, a list value as repeated parts, C{None}
    values left out; then the file parts, like requests_toolbelt's encoder.
    """
    for name, value in _items(fields):
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode("utf-8") + b"\r\n")
    for name, (filename, content) in files.items():
        out.write(
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        if isinstance(content, bytes):
            out.write(content)
        else:
            with open(content, "rb") as source:
                while chunk := source.read(_COPY_SIZE):
                    out.write(chunk)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())


def form_body(
    fields: Mapping[str, Optional[FieldValue]], files: Optional[Mapping[str, FilePart]] = None
) -> tuple[bytes, str]:
    """A whole C{multipart/form-data} body and its C{Content-Type} header value."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    write_form(out, fields, files or {}, boundary)
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def read_metadata(path: str) -> bytes:
    """The METADATA (wheel) or PKG-INFO (sdist) inside the archive at C{path}."""
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as archive:
            (member,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
            return archive.read(member)
    if path.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            (member,) = [
                n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/PKG-INFO")
            ]
            return archive.read(member)
    with tarfile.open(path) as archive:
        (member,) = [
            m for m in archive.getmembers()
            if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
        ]
        extracted = archive.extractfile(member)
        assert extracted is not None
        return extracted.read()


def digests(data: bytes) -> dict[str, str]:
    """The three digest fields twine (md5 up to twine 5) sends for C{data}."""
    return _digests([data])


def file_digests(path: str) -> dict[str, str]:
    """L{digests} of a file's bytes, read in chunks."""
    with open(path, "rb") as f:
        return _digests(iter(lambda: f.read(_COPY_SIZE), b""))


def _digests(chunks: Iterable[bytes]) -> dict[str, str]:
    hashers = {
        "md5_digest": hashlib.md5(),
        "sha256_digest": hashlib.sha256(),
        "blake2_256_digest": hashlib.blake2b(digest_size=32),
    }
    for chunk in chunks:
        for hasher in hashers.values():
            hasher.update(chunk)
    return {field: hasher.hexdigest() for field, hasher in hashers.items()}


def twine_fields(path: str) -> dict[str, FieldValue]:
    """The form fields twine sends for the release file at C{path}, read from the archive."""
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(read_metadata(path))
    fields: dict[str, FieldValue] = {}
    for header, field in _TEXT_HEADERS.items():
        if message.get(header) is not None:
            fields[field] = str(message[header])
    for header, field in _LIST_HEADERS.items():
        values = message.get_all(header)
        if values:
            fields[field] = [str(value) for value in values]
    body = message.get_payload()
    if isinstance(body, str) and body:
        fields["description"] = body
    filename = os.path.basename(path)
    if filename.endswith(".whl"):
        fields["filetype"], fields["pyversion"] = "bdist_wheel", filename.split("-")[-3]
    else:
        fields["filetype"], fields["pyversion"] = "sdist", "source"
    fields.update(file_digests(path))
    fields[":action"] = "file_upload"
    fields["protocol_version"] = "1"
    return fields


def post_form(
    server: MemoryServer,
    index: str,
    fields: Mapping[str, Optional[FieldValue]],
    files: Mapping[str, FilePart],
    auth: Mapping[str, str],
) -> Reply:
    """POST a form to C{/index/} as twine does: no C{Accept: application/json}."""
    body, content_type = form_body(fields, files)
    headers = {**auth, "Content-Type": content_type}
    return server.request("POST", f"/{index}/", data=body, headers=headers, accept_json=False)


def upload(
    server: MemoryServer,
    index: str,
    path: str,
    auth: Mapping[str, str],
    *,
    filename: Optional[str] = None,
    content: Optional[bytes] = None,
    **fields: Optional[FieldValue],
) -> Reply:
    """Upload the release file at C{path} like twine; C{fields} override (None drops one).

    C{filename} and C{content} replace the file part's name and bytes while the
    metadata fields still come from the file at C{path} (the digests are of
    the bytes sent).
    """
    if content is None:
        with open(path, "rb") as f:
            content = f.read()
    form = {**twine_fields(path), **digests(content), **fields}
    part = (filename or os.path.basename(path), content)
    return post_form(server, index, form, {"content": part}, auth)


def upload_docs(
    server: MemoryServer,
    index: str,
    path: str,
    auth: Mapping[str, str],
    name: str,
    version: Optional[str] = None,
) -> Reply:
    """C{:action=doc_upload} as devpi-client sends it (C{content} = C{name-version.doc.zip})."""
    with open(path, "rb") as f:
        data = f.read()
    fields = {":action": "doc_upload", "name": name, "version": version}
    part = (f"{name}-{version or ''}.doc.zip", data)
    return post_form(server, index, fields, {"content": part}, auth)


def disk_files(server: MemoryServer) -> set[str]:
    """Every file under the blob store's root, temp files included (relative paths)."""
    root = server.blobs.root
    return {
        os.path.relpath(os.path.join(directory, name), root)
        for directory, _, names in os.walk(root)
        for name in names
    }


def snapshot(server: MemoryServer) -> tuple[int, dict[str, object], set[str]]:
    """The store's serial and every key's value, and the files on disk: compare before/after."""
    values = {key: server.store.get(key) for key in server.store._values}
    return server.store.serial, values, disk_files(server)
