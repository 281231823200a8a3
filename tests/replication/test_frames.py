"""The stream's frames: what the primary writes is what the replica reads, however it is chunked."""

from __future__ import annotations

import json

from twisted.trial.unittest import TestCase

from devpi_twisted.replication.frames import (
    FrameDecoder,
    FrameError,
    Heartbeat,
    commit_frame,
    heartbeat_frame,
    parse_frame,
)
from devpi_twisted.store.changelog import Entry, encode_value
from devpi_twisted.store.sqlite import encode_changes

CHANGES = {"user/alice": encode_value({"pwhash": "x", "text": "line\nbreak ü"}), "index/a/b": None}


class FrameTests(TestCase):
    def test_commit_round_trip(self) -> None:
        """A commit frame carries serial, timestamp and the stored changes text exactly."""
        frame = commit_frame(7, 1795000000.123456, encode_changes(CHANGES))
        self.assertEqual(frame.count(b"\n"), 1)
        self.assertEqual(parse_frame(frame.rstrip(b"\n")), Entry(7, 1795000000.123456, CHANGES))

    def test_heartbeat(self) -> None:
        beat = parse_frame(heartbeat_frame(12, 5.5).rstrip(b"\n"))
        self.assertIsInstance(beat, Heartbeat)
        assert isinstance(beat, Heartbeat)
        self.assertEqual((beat.serial, beat.timestamp), (12, 5.5))

    def test_values_are_canonical(self) -> None:
        """Values re-encoded by the replica are the primary's text, byte for byte."""
        sent = {"k": encode_value({"b": 1, "a": [1.5, None, "é"]})}
        entry = parse_frame(commit_frame(0, 0.0, encode_changes(sent)).strip())
        assert isinstance(entry, Entry)
        self.assertEqual(entry.changes, sent)

    def test_unreadable_frames(self) -> None:
        for line in (
            b"not json",
            b"[]",
            b'{"serial": 1}',
            b'{"serial": -1, "timestamp": 0, "changes": {}}',
            b'{"serial": "1", "timestamp": 0, "changes": {}}',
            b'{"serial": 1, "timestamp": true, "changes": {}}',
            b'{"serial": 1, "timestamp": 0, "changes": []}',
            b'{"heartbeat": null, "timestamp": 0}',
        ):
            with self.subTest(line=line):
                self.assertRaises(FrameError, parse_frame, line)


class DecoderTests(TestCase):
    def stream(self) -> bytes:
        return b"".join(
            [
                commit_frame(0, 1.0, encode_changes(CHANGES)),
                heartbeat_frame(0, 2.0),
                commit_frame(1, 3.0, json.dumps({"x": {"n": 1}})),
            ]
        )

    def test_any_chunking(self) -> None:
        data = self.stream()
        for size in (1, 2, 7, 64, len(data)):
            decoder = FrameDecoder()
            frames = []
            for start in range(0, len(data), size):
                frames.extend(decoder.feed(data[start : start + size]))
            with self.subTest(size=size):
                self.assertEqual([type(f).__name__ for f in frames], ["Entry", "Heartbeat", "Entry"])
                self.assertEqual(frames[2], Entry(1, 3.0, {"x": '{"n":1}'}))
                self.assertFalse(decoder.partial)

    def test_partial_frame_is_held(self) -> None:
        decoder = FrameDecoder()
        data = self.stream()
        self.assertEqual(len(decoder.feed(data[:-3])), 2)
        self.assertTrue(decoder.partial)

    def test_overlong_frame_refused(self) -> None:
        decoder = FrameDecoder(max_frame=100)
        self.assertRaises(FrameError, decoder.feed, b"x" * 101)

    def test_garbage_line_refused(self) -> None:
        decoder = FrameDecoder()
        self.assertRaises(FrameError, decoder.feed, heartbeat_frame(0, 1.0) + b"\x00garbage\n")
