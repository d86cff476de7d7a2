"""pkt-line framing: strict reading, side-band writing."""

from __future__ import annotations

import pytest

from gitaccess.protocol.pktline import (
    DELIM_PKT,
    FLUSH_PKT,
    MAX_PKT_PAYLOAD,
    RESPONSE_END_PKT,
    Marker,
    PktReader,
    ProtocolError,
    Sideband,
    error_line,
    pkt_line,
    text_line,
)


def test_round_trip_of_lines_and_markers() -> None:
    body = text_line("want abc") + FLUSH_PKT + DELIM_PKT + RESPONSE_END_PKT + pkt_line(b"") + text_line(b"done")
    reader = PktReader(body)
    assert reader.read_line() == b"want abc"
    assert [reader.read(), reader.read(), reader.read()] == [Marker.FLUSH, Marker.DELIM, Marker.RESPONSE_END]
    assert reader.read() == b""
    assert reader.read_line() == b"done"
    assert reader.at_end


@pytest.mark.parametrize(("body", "message"), [
    (b"zzzz", "bad pkt-line length"),
    (b"00", "truncated pkt-line length"),
    (b"0003", "0003"),
    (b"fff5" + b"x" * 10, "exceeds the maximum of 65520"),
    (b"0010abc", "truncated pkt-line: 12 bytes announced, 3 present"),
    (b"+01a", "bad pkt-line length"),
])
def test_malformed_lengths_are_protocol_errors(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        PktReader(body).read()


def test_reading_past_the_end_says_the_flush_is_missing() -> None:
    reader = PktReader(text_line("want x"))
    with pytest.raises(ProtocolError, match="no flush-pkt"):
        reader.lines_until(Marker.FLUSH)


def test_unexpected_marker_is_named() -> None:
    with pytest.raises(ProtocolError, match="unexpected delim-pkt, expected flush-pkt"):
        PktReader(text_line("a") + b"0001").lines_until(Marker.FLUSH)


def test_payload_limit_and_err_line() -> None:
    assert pkt_line(b"x" * MAX_PKT_PAYLOAD)[:4] == b"fff0"
    with pytest.raises(ValueError):
        pkt_line(b"x" * (MAX_PKT_PAYLOAD + 1))
    assert error_line("upload-pack: not our ref 00") == b"0023ERR upload-pack: not our ref 00"


def test_sideband_frames_pack_data_progress_and_errors() -> None:
    out: list[bytes] = []
    band = Sideband(out.append, 1000)
    band.write(b"P" * 2000)
    band.progress("Counting objects\r")
    band.fatal("broken")
    reader = PktReader(b"".join(out))
    packets = []
    while not reader.at_end:
        packets.append(reader.read())
    assert [p[:1] for p in packets] == [b"\1", b"\1", b"\1", b"\2", b"\3"]
    assert [len(p) for p in packets[:3]] == [996, 996, 2000 - 2 * 995 + 1]
    assert packets[3] == b"\2Counting objects\r"


def test_without_sideband_pack_data_is_raw_and_progress_is_dropped() -> None:
    out: list[bytes] = []
    band = Sideband(out.append, None)
    band.write(b"PACK")
    band.progress("dropped")
    band.flush()
    assert out == [b"PACK"]
