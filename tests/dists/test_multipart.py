"""multipart/form-data bodies as twine, setup.py and devpi-client send them, parsed as a stream."""

from __future__ import annotations

import hashlib
import io
import os
from email import encoders, policy
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from typing import Optional, Sequence, cast

from twisted.trial.unittest import SkipTest, TestCase

from devpi_twisted.dists.errors import MalformedForm
from devpi_twisted.dists.multipart import UploadForm, parse_form, parse_header_value

BOUNDARY = "f1a2b3c4d5e6f708090a0b0c0d0e0f10"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}".encode()
CHUNK_SIZES = (1, 7, 64 * 1024)
# binary content full of near-delimiters: CRLF--, partial boundaries, a boundary without CRLF
TRICKY = (
    b"\x00\xff\r\n--\r\n-\r\n--"
    + BOUNDARY[:-1].encode()
    + b"\r\n"
    + b"x--"
    + BOUNDARY.encode()
    + b"\r\r\n\n--"
    + BOUNDARY[:10].encode()
    + b"\r\n"
)


class Writer:
    """Records what a file part streamed into it; refuses writes larger than C{max_write}."""

    def __init__(self, max_write: Optional[int] = None, keep: bool = True) -> None:
        self.max_write = max_write
        self.keep = keep
        self.data = bytearray()
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.writes = 0
        self.largest_write = 0
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.aborted, "write after abort"
        if self.max_write is not None and len(data) > self.max_write:
            raise AssertionError(f"write of {len(data)} bytes, more than {self.max_write}")
        self.writes += 1
        self.largest_write = max(self.largest_write, len(data))
        self.size += len(data)
        self.sha256.update(data)
        if self.keep:
            self.data += data

    def abort(self) -> None:
        self.aborted = True


class Opener:
    """An C{open_file} callback remembering every writer it handed out."""

    def __init__(self, max_write: Optional[int] = None, keep: bool = True) -> None:
        self.max_write = max_write
        self.keep = keep
        self.opened: list[tuple[str, Writer]] = []

    def __call__(self, name: str) -> Writer:
        writer = Writer(self.max_write, self.keep)
        self.opened.append((name, writer))
        return writer


def encode_form(
    fields: Sequence[tuple[str, str]],
    files: Sequence[tuple[str, str, bytes]] = (),
    boundary: str = BOUNDARY,
) -> bytes:
    """A body the way requests / urllib3 (and so twine) encode it."""
    body = b""
    for name, value in fields:
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        body += value.encode("utf-8") + b"\r\n"
    for name, filename, data in files:
        body += (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        body += data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def encode_with_email(
    fields: Sequence[tuple[str, str]], files: Sequence[tuple[str, str, bytes]]
) -> tuple[bytes, bytes]:
    """A body and content type made by the stdlib's email package (quoted boundary)."""
    message = MIMEMultipart("form-data", boundary=BOUNDARY)
    for name, value in fields:
        part = Message()
        part.add_header("Content-Disposition", "form-data", name=name)
        part.set_payload(value.encode("utf-8"))
        message.attach(part)
    for name, filename, data in files:
        part = MIMEApplication(data, _encoder=encoders.encode_noop)
        part.add_header("Content-Disposition", "form-data", name=name, filename=filename)
        message.attach(part)
    head, _, body = message.as_bytes(policy=policy.HTTP).partition(b"\r\n\r\n")
    (content_type,) = [
        line for line in head.split(b"\r\n") if line.lower().startswith(b"content-type:")
    ]
    return body, content_type.partition(b":")[2].strip()


TWINE_FIELDS = [
    (":action", "file_upload"),
    ("protocol_version", "1"),
    ("name", "hello-pkg"),
    ("version", "1.0"),
    ("filetype", "bdist_wheel"),
    ("pyversion", "py3"),
    ("metadata_version", "2.1"),
    ("summary", "Grüße"),
    ("classifiers", "Programming Language :: Python :: 3"),
    ("classifiers", "License :: OSI Approved :: MIT License"),
    ("description", "line one\r\nline two\n"),
    ("sha256_digest", "0" * 64),
]
TWINE_FILES = [("content", "hello_pkg-1.0-py3-none-any.whl", TRICKY)]
TWINE_EXPECTED_FIELDS = {
    ":action": ["file_upload"],
    "protocol_version": ["1"],
    "name": ["hello-pkg"],
    "version": ["1.0"],
    "filetype": ["bdist_wheel"],
    "pyversion": ["py3"],
    "metadata_version": ["2.1"],
    "summary": ["Grüße"],
    "classifiers": [
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
    ],
    "description": ["line one\r\nline two\n"],
    "sha256_digest": ["0" * 64],
}


def parse(
    body: bytes, content_type: bytes = CONTENT_TYPE, opener: Optional[Opener] = None, **kwargs: int
) -> UploadForm:
    return parse_form(io.BytesIO(body), content_type, opener or Opener(), **kwargs)


def written(form: UploadForm, field: str = "content") -> bytes:
    """What the form's file field streamed into its (test) writer."""
    return bytes(cast(Writer, form.files[field][1]).data)


class ParseTests(TestCase):
    def assert_twine_form(
        self, form: UploadForm, fields: object = TWINE_EXPECTED_FIELDS, data: bytes = TRICKY
    ) -> None:
        self.assertEqual(form.fields, fields)
        self.assertEqual(list(form.files), ["content"])
        filename, writer, size = form.files["content"]
        self.assertEqual(
            (filename, written(form), size), ("hello_pkg-1.0-py3-none-any.whl", data, len(data))
        )

    def test_a_requests_style_body_is_parsed_at_every_chunk_size(self) -> None:
        body = encode_form(TWINE_FIELDS, TWINE_FILES)
        for chunk_size in CHUNK_SIZES:
            self.assert_twine_form(parse(body, chunk_size=chunk_size))

    def test_a_body_made_by_the_email_package_is_parsed_at_every_chunk_size(self) -> None:
        # the email package writes every line break as CRLF: give it only CRLFs
        fields = [
            (name, value.replace("\r\n", "\n").replace("\n", "\r\n"))
            for name, value in TWINE_FIELDS
        ]
        data = TRICKY.replace(b"\r\r\n\n", b"\r\n\r\n")
        body, content_type = encode_with_email(
            fields, [("content", "hello_pkg-1.0-py3-none-any.whl", data)]
        )
        self.assertIn(b'boundary="', content_type)
        expected = dict(TWINE_EXPECTED_FIELDS, description=["line one\r\nline two\r\n"])
        for chunk_size in CHUNK_SIZES:
            self.assert_twine_form(parse(body, content_type, chunk_size=chunk_size), expected, data)

    def test_a_body_made_by_urllib3_is_parsed(self) -> None:
        try:
            from urllib3 import encode_multipart_formdata
        except ImportError:
            raise SkipTest("urllib3 is not installed")
        body, content_type = encode_multipart_formdata(
            TWINE_FIELDS + [("content", ("hello_pkg-1.0-py3-none-any.whl", TRICKY))]
        )
        for chunk_size in CHUNK_SIZES:
            self.assert_twine_form(parse(body, content_type.encode(), chunk_size=chunk_size))

    def test_the_file_is_streamed_to_the_writer_opened_for_its_field(self) -> None:
        opener = Opener()
        form = parse(
            encode_form([], [("content", "x.zip", b"zip bytes"), ("other", "y.zip", b"")]),
            opener=opener,
        )
        self.assertEqual([name for name, _ in opener.opened], ["content", "other"])
        self.assertIs(form.files["content"][1], opener.opened[0][1])
        self.assertEqual(form.files["other"][0::2], ("y.zip", 0))
        self.assertFalse(any(writer.aborted for _, writer in opener.opened))

    def test_crlf_next_to_delimiters_belongs_to_the_delimiter_only(self) -> None:
        for data in (b"", b"\r\n", b"\r\n\r\n", b"--", b"\n", b"\r", b"x\r\n-"):
            for chunk_size in CHUNK_SIZES:
                form = parse(
                    encode_form([("f", data.decode())], [("content", "x.zip", data)]),
                    chunk_size=chunk_size,
                )
                self.assertEqual(form.fields["f"], [data.decode()])
                self.assertEqual(written(form), data)

    def test_preamble_epilogue_and_transport_padding_are_ignored(self) -> None:
        body = (
            b"a preamble\r\n--B \t\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--B\r\n"
            b"Content-Disposition: form-data; name=b\r\n\r\n2\r\n"
            b"--B--  an epilogue\r\n--B\r\nignored"
        )
        for chunk_size in CHUNK_SIZES:
            form = parse(body, b"multipart/form-data; boundary=B", chunk_size=chunk_size)
            self.assertEqual(form.fields, {"a": ["1"], "b": ["2"]})

    def test_the_final_crlf_is_optional_and_an_empty_form_is_a_form(self) -> None:
        body = encode_form([("a", "1")])
        self.assertEqual(parse(body[:-2]).fields, {"a": ["1"]})
        empty = parse(f"--{BOUNDARY}--".encode())
        self.assertEqual((empty.fields, empty.files), ({}, {}))

    def test_quoted_and_unquoted_boundaries(self) -> None:
        body = encode_form([("a", "1")], boundary="simple boundary")
        for content_type in (
            b'multipart/form-data; boundary="simple boundary"',
            b'Multipart/Form-Data;boundary="simple boundary" ; charset=utf-8',
        ):
            self.assertEqual(parse(body, content_type).fields, {"a": ["1"]})
        body = encode_form([("a", "1")], boundary="----WebKitFormBoundary7MA4YWxkTrZu0gW")
        self.assertEqual(
            parse(
                body, b"multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW"
            ).fields,
            {"a": ["1"]},
        )

    def test_filenames_with_quotes_escapes_and_rfc_5987_encoding(self) -> None:
        cases = {
            'filename="a \\"quoted\\" name.zip"': 'a "quoted" name.zip',
            'filename="semi;colon.zip"': "semi;colon.zip",
            "filename=bare.zip": "bare.zip",
            "filename*=UTF-8''gr%C3%BC%C3%9Fe.zip": "grüße.zip",
            "filename=\"fallback.zip\"; filename*=utf-8''real%20name.zip": "real name.zip",
            'filename=""': "",
        }
        for parameter, filename in cases.items():
            body = (
                f"--{BOUNDARY}\r\n"
                f'Content-Disposition: form-data; name="content"; {parameter}\r\n\r\n'
                f"data\r\n--{BOUNDARY}--\r\n"
            ).encode()
            self.assertEqual(parse(body).files["content"][0], filename, parameter)

    def test_the_email_packages_rfc_2231_filenames_are_decoded(self) -> None:
        body, content_type = encode_with_email([], [("content", "grüße-1.0.zip", b"data")])
        self.assertIn(b"filename*=", body)
        self.assertEqual(parse(body, content_type).files["content"][0], "grüße-1.0.zip")

    def test_header_names_are_case_insensitive_and_folded_headers_unfold(self) -> None:
        body = (
            f'--{BOUNDARY}\r\ncontent-disposition: form-data;\r\n name="a"\r\nX-Other: 1\r\n\r\n'
            f"v\r\n--{BOUNDARY}--\r\n"
        ).encode()
        self.assertEqual(parse(body).fields, {"a": ["v"]})

    def test_first_and_abort_on_the_form(self) -> None:
        form = parse(encode_form([("a", "1"), ("a", "2")], [("content", "x.zip", b"x")]))
        self.assertEqual((form.first("a"), form.first("b"), form.first("b", "d")), ("1", None, "d"))
        form.abort()
        self.assertTrue(form.files["content"][1].aborted)  # type: ignore[attr-defined]

    def test_a_20_mb_file_streams_through_in_bounded_writes(self) -> None:
        block = os.urandom(1024 * 1024 - 37) + b"\r\n--" + BOUNDARY[:-3].encode() + b"\r\n--"
        data = block * 20
        body = encode_form([("name", "big")], [("content", "big-1.0.tar.gz", data)])
        chunk_size = 64 * 1024
        opener = Opener(max_write=chunk_size + len(BOUNDARY) + 8, keep=False)
        reads = []

        class Body(io.BytesIO):
            def read(self, size: Optional[int] = -1) -> bytes:
                reads.append(size)
                return super().read(size)

        form = parse_form(Body(body), CONTENT_TYPE, opener, chunk_size=chunk_size)
        writer = opener.opened[0][1]
        self.assertEqual(form.files["content"][2], len(data))
        self.assertEqual(writer.sha256.hexdigest(), hashlib.sha256(data).hexdigest())
        self.assertEqual(set(reads), {chunk_size})
        self.assertGreater(writer.writes, len(data) // (chunk_size + len(BOUNDARY) + 8))
        self.assertLessEqual(writer.largest_write, chunk_size + len(BOUNDARY) + 8)


class HeaderValueTests(TestCase):
    def test_type_and_parameters(self) -> None:
        self.assertEqual(
            parse_header_value('Form-Data; NAME="a;b"; filename="c\\"d"; x=y ; flag'),
            ("form-data", {"name": "a;b", "filename": 'c"d', "x": "y"}),
        )

    def test_the_first_of_repeated_parameters_wins_and_star_parameters_override(self) -> None:
        self.assertEqual(
            parse_header_value("form-data; name=a; name=b; name*=utf-8'en'%C3%A4"),
            ("form-data", {"name": "ä"}),
        )

    def test_malformed_values_are_refused(self) -> None:
        error = self.assertRaises(MalformedForm, parse_header_value, 'form-data; name="open')
        self.assertEqual(
            error.message, "unterminated quoted string in header value 'form-data; name=\"open'"
        )
        error = self.assertRaises(
            MalformedForm, parse_header_value, "form-data; filename*=koi8-r''x"
        )
        self.assertEqual(error.message, "unsupported extended parameter value \"koi8-r''x\"")
        error = self.assertRaises(
            MalformedForm, parse_header_value, "form-data; filename*=utf-8''%FF"
        )
        self.assertEqual(
            error.message, "extended parameter value \"utf-8''%FF\" is not valid utf-8"
        )


class MalformedTests(TestCase):
    def assert_malformed(
        self, message: str, body: bytes, content_type: bytes = CONTENT_TYPE, **kwargs: int
    ) -> Opener:
        opener = Opener()
        for chunk_size in CHUNK_SIZES:
            opener = Opener()
            error = self.assertRaises(
                MalformedForm,
                parse_form,
                io.BytesIO(body),
                content_type,
                opener,
                chunk_size=chunk_size,
                **kwargs,
            )
            self.assertEqual(error.message, message)
            self.assertTrue(all(writer.aborted for _, writer in opener.opened))
        return opener

    def part(self, headers: str, value: bytes = b"v") -> bytes:
        return (
            f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode()
            + value
            + f"\r\n--{BOUNDARY}--\r\n".encode()
        )

    def test_other_content_types_are_refused(self) -> None:
        self.assert_malformed(
            "expected multipart/form-data, got 'application/json'", b"{}", b"application/json"
        )
        self.assert_malformed(
            "expected multipart/form-data, got 'multipart/mixed'",
            b"",
            b"multipart/mixed; boundary=x",
        )

    def test_a_missing_or_invalid_boundary_is_refused(self) -> None:
        self.assert_malformed(
            "no boundary in the multipart/form-data content type", b"", b"multipart/form-data"
        )
        self.assert_malformed(
            "no boundary in the multipart/form-data content type",
            b"",
            b"multipart/form-data; boundary=",
        )
        self.assert_malformed(
            "invalid multipart boundary 'a\\tb'", b"", b'multipart/form-data; boundary="a\tb"'
        )
        self.assert_malformed(
            f"invalid multipart boundary {'b' * 201!r}",
            b"",
            b"multipart/form-data; boundary=" + b"b" * 201,
        )

    def test_a_truncated_body_is_refused_and_its_writers_aborted(self) -> None:
        body = encode_form([("name", "x")], [("content", "x.zip", TRICKY)])
        for cut in range(len(body) - 2):
            opener = self.assert_malformed("body ends before the final boundary", body[:cut])
            if cut >= body.index(b"octet-stream\r\n\r\n") + 16:
                self.assertEqual(len(opener.opened), 1)

    def test_a_body_without_the_boundary_is_refused(self) -> None:
        self.assert_malformed("body ends before the final boundary", b"no boundary here")
        self.assert_malformed(
            "no multipart boundary at the start of the body",
            b"x" * 2000 + encode_form([]),
            max_field_size=1000,
        )

    def test_a_text_field_larger_than_the_bound_is_refused(self) -> None:
        body = encode_form([("description", "é" * 6)])
        self.assertEqual(parse(body, max_field_size=12).fields, {"description": ["é" * 6]})
        self.assert_malformed(
            "field 'description' is larger than 11 bytes", body, max_field_size=11
        )

    def test_text_fields_larger_than_the_total_bound_are_refused(self) -> None:
        body = encode_form([("a", "x" * 600), ("b", "y" * 600)])
        self.assert_malformed("form fields larger than 1000 bytes", body, max_fields_size=1000)

    def test_a_part_without_content_disposition_is_refused(self) -> None:
        self.assert_malformed(
            "part without Content-Disposition", self.part("Content-Type: text/plain")
        )
        self.assert_malformed(
            "part without Content-Disposition",
            f"--{BOUNDARY}\r\n\r\nv\r\n--{BOUNDARY}--\r\n".encode(),
        )

    def test_a_part_that_is_not_form_data_or_has_no_name_is_refused(self) -> None:
        self.assert_malformed(
            "part has Content-Disposition 'attachment', expected form-data",
            self.part('Content-Disposition: attachment; name="a"'),
        )
        self.assert_malformed(
            "part without a name", self.part('Content-Disposition: form-data; filename="x.zip"')
        )

    def test_transfer_encodings_are_refused(self) -> None:
        self.assert_malformed(
            "unsupported Content-Transfer-Encoding 'base64'",
            self.part(
                'Content-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: base64',
                b"dg==",
            ),
        )

    def test_a_text_field_that_is_not_utf8_is_refused(self) -> None:
        self.assert_malformed(
            "field 'a' is not valid UTF-8",
            self.part('Content-Disposition: form-data; name="a"', b"\xff"),
        )

    def test_malformed_part_headers_are_refused(self) -> None:
        self.assert_malformed(
            "malformed part header 'garbage'",
            self.part('Content-Disposition: form-data; name="a"\r\ngarbage'),
        )
        self.assert_malformed(
            "part headers larger than 16384 bytes",
            self.part('Content-Disposition: form-data; name="a"\r\nX-Big: ' + "x" * 17000),
        )

    def test_garbage_after_a_delimiter_is_refused(self) -> None:
        body = encode_form([("a", "1")]).replace(
            f"--{BOUNDARY}\r\n".encode(), f"--{BOUNDARY}X\r\n".encode()
        )
        self.assert_malformed("malformed multipart delimiter line", body)
        body = encode_form([("a", "1")]).replace(
            f"--{BOUNDARY}--".encode(), f"--{BOUNDARY}-x".encode()
        )
        self.assert_malformed("malformed multipart delimiter line", body)

    def test_too_many_parts_are_refused(self) -> None:
        body = encode_form([("a", str(i)) for i in range(6)])
        self.assertEqual(len(parse(body, max_parts=6).fields["a"]), 6)
        self.assert_malformed("more than 5 parts", body, max_parts=5)

    def test_two_files_in_one_field_are_refused_and_both_aborted(self) -> None:
        body = encode_form(
            [], [("content", "a.zip", b"a"), ("other", "b.zip", b"b"), ("content", "c.zip", b"c")]
        )
        opener = self.assert_malformed("more than one file in field 'content'", body)
        self.assertEqual([name for name, _ in opener.opened], ["content", "other"])

    def test_writers_are_aborted_when_open_file_or_write_fails(self) -> None:
        body = encode_form([], [("content", "a.zip", b"a"), ("other", "b.zip", b"b")])
        opened: list[Writer] = []

        def refuse_other(name: str) -> Writer:
            if name == "other":
                raise MalformedForm("unexpected file field 'other'")
            opened.append(Writer())
            return opened[-1]

        error = self.assertRaises(
            MalformedForm, parse_form, io.BytesIO(body), CONTENT_TYPE, refuse_other
        )
        self.assertEqual(error.message, "unexpected file field 'other'")
        self.assertTrue(opened[0].aborted)

        class Failing(Writer):
            def write(self, data: bytes) -> None:
                raise OSError("disk full")

        failing = Failing()
        self.assertRaises(OSError, parse_form, io.BytesIO(body), CONTENT_TYPE, lambda name: failing)
        self.assertTrue(failing.aborted)
