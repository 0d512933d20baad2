"""chart.py: a valid palette PNG with bars and the capacity line where they belong."""

from __future__ import annotations

import struct
import zlib

from anmeldung.chart import CAPACITY, EARLIER, NEW, WHITE, Bar, bar_chart


def _pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        chunks[kind] = data
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"PLTE", b"IDAT", b"IEND"]
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (8, 3)  # 8-bit palette
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[y * (width + 1) : (y + 1) * (width + 1)] for y in range(height)]
    assert all(r[0] == 0 for r in rows)  # filter type none
    return width, height, [r[1:] for r in rows]


def test_bars_and_capacity_line() -> None:
    bars = [Bar("01.12", 0, 0), Bar("02.12", 10, 10), Bar("03.12", 30, 20)]
    width, height, rows = _pixels(bar_chart(bars, capacity=20, width=300, height=200))
    assert (width, height) == (300, 200)
    # Axis 0..30 in steps of 10 over 164 px from y=12: 20 places is 2/3 up, at y = 176 - 109.
    line = [y for y in range(height) if rows[y][150] == CAPACITY or rows[y][60] == CAPACITY]
    assert line
    assert line == [66, 67]
    column = [rows[y][255] for y in range(height)]  # the middle of the third bar
    assert NEW in column
    assert EARLIER in column
    assert rows[height // 2][299] == WHITE


def test_no_capacity_no_line_and_no_days() -> None:
    _w, _h, rows = _pixels(bar_chart([], capacity=None))
    assert not any(CAPACITY in r for r in rows)
