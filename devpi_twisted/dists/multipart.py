"""Streaming parser of multipart/form-data upload bodies (RFC 7578, RFC 2046)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Optional, Protocol, Union

from devpi_twisted.dists.errors import MalformedForm

MAX_FIELD_SIZE = 1024 * 1024  # bytes of one text field
MAX_FIELDS_SIZE = 16 * 1024 * 1024  # bytes of all text fields together
MAX_PARTS = 1000
MAX_HEADER_SIZE = 16 * 1024  # bytes of one part's header block
CHUNK_SIZE = 64 * 1024

_MAX_BOUNDARY = 200  # RFC 2046 says 70; be lenient with clients
_MAX_PADDING = 1024  # transport padding after a delimiter
_TRUNCATED = "body ends before the final boundary"


class Writer(Protocol):
    """Where a file part's bytes go: an C{IBlobWriter} or anything alike."""

    def write(self, data: bytes) -> None: ...

    def abort(self) -> None: ...


@dataclass
class UploadForm:
    """A parsed form: text fields and the files streamed into writers."""

    # field name -> every value sent under that name, in order
    fields: dict[str, list[str]] = field(default_factory=dict)
    # field name -> (client file name, writer holding the bytes, size in bytes)
    files: dict[str, tuple[str, Writer, int]] = field(default_factory=dict)

    def first(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of a text field, or C{default}."""
        values = self.fields.get(name)
        return values[0] if values else default

    def abort(self) -> None:
        """Abort every file writer (when the upload is refused after parsing)."""
        for _, writer, _ in self.files.values():
            writer.abort()


def parse_header_value(value: str) -> tuple[str, dict[str, str]]:
    """Split C{type; key=value; key="quoted \\"value\\""} into the lower-cased type and params.

    Parameter names are lower-cased; the first of repeated names wins; a
    C{key*} parameter (RFC 5987 C{charset'lang'percent-encoded}) overrides C{key}.
    """
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    at, end = 0, len(rest)
    while at < end:
        while at < end and rest[at] in " \t;":
            at += 1
        if at >= end:
            break
        stop = at
        while stop < end and rest[stop] not in "=;":
            stop += 1
        key = rest[at:stop].strip().lower()
        at = stop
        if at >= end or rest[at] == ";":
            continue  # a parameter without a value
        at += 1
        while at < end and rest[at] in " \t":
            at += 1
        if at < end and rest[at] == '"':
            chars = []
            at += 1
            while True:
                if at >= end:
                    raise MalformedForm(f"unterminated quoted string in header value {value!r}")
                char = rest[at]
                if char == "\\" and at + 1 < end:
                    chars.append(rest[at + 1])
                    at += 2
                elif char == '"':
                    at += 1
                    break
                else:
                    chars.append(char)
                    at += 1
            text = "".join(chars)
            while at < end and rest[at] != ";":
                at += 1
        else:
            stop = rest.find(";", at)
            stop = end if stop < 0 else stop
            text = rest[at:stop].strip()
            at = stop
        if key.endswith("*"):
            extended.setdefault(key[:-1], _decode_extended(text))
        else:
            params.setdefault(key, text)
    params.update(extended)
    return main.strip().lower(), params


def _decode_extended(text: str) -> str:
    """Decode an RFC 5987 extended parameter value."""
    charset, quote, rest = text.partition("'")
    _, quote2, encoded = rest.partition("'")
    if not (quote and quote2) or charset.lower() not in ("utf-8", "iso-8859-1"):
        raise MalformedForm(f"unsupported extended parameter value {text!r}")
    try:
        return urllib.parse.unquote(encoded, encoding=charset, errors="strict")
    except UnicodeDecodeError:
        raise MalformedForm(f"extended parameter value {text!r} is not valid {charset}") from None


def _boundary(content_type: Union[bytes, str]) -> bytes:
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    kind, params = parse_header_value(content_type)
    if kind != "multipart/form-data":
        raise MalformedForm(f"expected multipart/form-data, got {kind!r}")
    boundary = params.get("boundary")
    if not boundary:
        raise MalformedForm("no boundary in the multipart/form-data content type")
    if len(boundary) > _MAX_BOUNDARY or not re.fullmatch(r"[\x20-\x7e]+", boundary):
        raise MalformedForm(f"invalid multipart boundary {boundary!r}")
    return boundary.encode("ascii")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _parse_part_headers(block: bytes) -> dict[str, str]:
    """Part headers by lower-cased name (folded lines joined; the first of repeats wins)."""
    headers: dict[str, str] = {}
    lines: list[str] = []
    for line in _decode(block).split("\r\n") if block else []:
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise MalformedForm(f"malformed part header {line!r}")
        headers.setdefault(name.strip().lower(), value.strip())
    return headers


class _Parser:
    def __init__(
        self,
        body: BinaryIO,
        boundary: bytes,
        open_file: Callable[[str], Writer],
        max_field_size: int,
        max_fields_size: int,
        max_parts: int,
        chunk_size: int,
    ) -> None:
        self.body = body
        self.delimiter = b"\r\n--" + boundary
        self.open_file = open_file
        self.max_field_size = max_field_size
        self.max_fields_size = max_fields_size
        self.max_parts = max_parts
        self.chunk_size = chunk_size
        # the CRLF before the first delimiter is part of it: a body starting
        # with the delimiter has an empty preamble
        self.buffer = bytearray(b"\r\n")
        self.eof = False
        self.fields_size = 0
        self.form = UploadForm()
        self.writers: list[Writer] = []

    def fill(self) -> None:
        """Read one more chunk into the buffer; a body that ended here is truncated."""
        data = b"" if self.eof else self.body.read(self.chunk_size)
        if not data:
            self.eof = True
            raise MalformedForm(_TRUNCATED)
        self.buffer += data

    def until_delimiter(self, sink: Callable[[bytes], None]) -> None:
        """Pass everything up to the next delimiter to C{sink}; consume the delimiter.

        What could be the start of a delimiter is kept back until the next
        chunk shows whether it is one. The buffer never holds more than a chunk
        and a delimiter here (a header block leaves less than a chunk after
        it), so neither does any piece passed to C{sink}.
        """
        delimiter, buffer = self.delimiter, self.buffer
        keep = len(delimiter) - 1
        while True:
            at = buffer.find(delimiter)
            if at >= 0:
                if at:
                    sink(bytes(buffer[:at]))
                del buffer[: at + len(delimiter)]
                return
            if len(buffer) > keep:
                cut = len(buffer) - keep
                sink(bytes(buffer[:cut]))
                del buffer[:cut]
            self.fill()

    def more_parts(self) -> bool:
        """After a delimiter: C{--} closes the body, else padding and CRLF open a part."""
        buffer = self.buffer
        while len(buffer) < 2:
            self.fill()
        if buffer[:2] == b"--":
            return False
        while True:
            padding = len(buffer) - len(buffer.lstrip(b" \t"))
            if padding > _MAX_PADDING:
                raise MalformedForm("malformed multipart delimiter line")
            if len(buffer) - padding >= 2:
                break
            self.fill()
        if buffer[padding : padding + 2] != b"\r\n":
            raise MalformedForm("malformed multipart delimiter line")
        del buffer[: padding + 2]
        return True

    def part_headers(self) -> dict[str, str]:
        buffer = self.buffer
        while len(buffer) < 2:
            self.fill()
        if buffer[:2] == b"\r\n":
            del buffer[:2]
            return {}
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(buffer) > MAX_HEADER_SIZE:
                raise MalformedForm(f"part headers larger than {MAX_HEADER_SIZE} bytes")
            self.fill()
        if end > MAX_HEADER_SIZE:
            raise MalformedForm(f"part headers larger than {MAX_HEADER_SIZE} bytes")
        block = bytes(buffer[:end])
        del buffer[: end + 4]
        return _parse_part_headers(block)

    def parse(self) -> UploadForm:
        preamble = 0

        def skip(data: bytes) -> None:
            nonlocal preamble
            preamble += len(data)
            if preamble > self.max_field_size:
                raise MalformedForm("no multipart boundary at the start of the body")

        self.until_delimiter(skip)
        parts = 0
        while self.more_parts():
            parts += 1
            if parts > self.max_parts:
                raise MalformedForm(f"more than {self.max_parts} parts")
            self.part(self.part_headers())
        return self.form

    def part(self, headers: dict[str, str]) -> None:
        if "content-disposition" not in headers:
            raise MalformedForm("part without Content-Disposition")
        disposition, params = parse_header_value(headers["content-disposition"])
        if disposition != "form-data":
            raise MalformedForm(f"part has Content-Disposition {disposition!r}, expected form-data")
        name = params.get("name")
        if name is None:
            raise MalformedForm("part without a name")
        encoding = headers.get("content-transfer-encoding", "binary").lower()
        if encoding not in ("binary", "8bit", "7bit"):
            raise MalformedForm(f"unsupported Content-Transfer-Encoding {encoding!r}")
        if "filename" in params:
            self.file_part(name, params["filename"])
        else:
            self.text_part(name)

    def text_part(self, name: str) -> None:
        value = bytearray()

        def collect(data: bytes) -> None:
            value.extend(data)
            if len(value) > self.max_field_size:
                raise MalformedForm(f"field {name!r} is larger than {self.max_field_size} bytes")
            self.fields_size += len(data)
            if self.fields_size > self.max_fields_size:
                raise MalformedForm(f"form fields larger than {self.max_fields_size} bytes")

        self.until_delimiter(collect)
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedForm(f"field {name!r} is not valid UTF-8") from None
        self.form.fields.setdefault(name, []).append(text)

    def file_part(self, name: str, filename: str) -> None:
        if name in self.form.files:
            raise MalformedForm(f"more than one file in field {name!r}")
        writer = self.open_file(name)
        self.writers.append(writer)
        size = 0

        def write(data: bytes) -> None:
            nonlocal size
            writer.write(data)
            size += len(data)

        self.until_delimiter(write)
        self.form.files[name] = (filename, writer, size)

    def abort(self) -> None:
        for writer in self.writers:
            writer.abort()


def parse_form(
    body: BinaryIO,
    content_type: Union[bytes, str],
    open_file: Callable[[str], Writer],
    max_field_size: int = MAX_FIELD_SIZE,
    chunk_size: int = CHUNK_SIZE,
    *,
    max_fields_size: int = MAX_FIELDS_SIZE,
    max_parts: int = MAX_PARTS,
) -> UploadForm:
    """Parse a C{multipart/form-data} body read from C{body} in C{chunk_size} pieces.

    Parts with a C{filename} (or C{filename*}) parameter are files: C{open_file}
    is called with the field name and the part's bytes are written to the
    writer it returns as they arrive. Other parts are text fields, decoded as
    UTF-8. Raises L{MalformedForm} for a body that is not well-formed; on any
    error every writer opened is aborted.
    """
    parser = _Parser(
        body,
        _boundary(content_type),
        open_file,
        max_field_size,
        max_fields_size,
        max_parts,
        chunk_size,
    )
    try:
        return parser.parse()
    except BaseException:
        parser.abort()
        raise
