"""Pure: a small PNG bar chart (registrations per day against capacity) with zlib and struct only.

Mail clients block data: URIs and strip inline SVG (Gmail, Outlook), but show a PNG that the
HTML references by Content-ID inside multipart/related (RFC 2387), so the daily report draws
one itself instead of pulling in a plotting library.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

# Palette indexes (PNG colour type 3 keeps the image a few kilobytes).
WHITE, GRID, AXIS, EARLIER, NEW, CAPACITY, TEXT = range(7)
PALETTE = (
    (255, 255, 255),
    (226, 226, 226),
    (90, 90, 90),
    (122, 160, 204),  # registrations from earlier days
    (31, 94, 168),  # registrations new that day
    (200, 30, 30),  # the capacity line
    (40, 40, 40),
)

# A 5x7 bitmap font for the figures on the axes; each row is five bits, left bit first.
GLYPHS: dict[str, tuple[int, ...]] = {
    "0": (0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110),
    "1": (0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110),
    "2": (0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111),
    "3": (0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110),
    "4": (0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010),
    "5": (0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110),
    "6": (0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110),
    "7": (0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000),
    "8": (0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110),
    "9": (0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100),
    ".": (0, 0, 0, 0, 0, 0b01100, 0b01100),
    " ": (0, 0, 0, 0, 0, 0, 0),
}


@dataclass(frozen=True)
class Bar:
    """One day: ``label`` (digits and dots, e.g. "04.12"), active registrations at its end, and
    how many of them were new that day."""

    label: str
    total: int
    new: int


class Canvas:
    """Palette pixels in rows; everything outside is clipped."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.rows = [bytearray(width) for _ in range(height)]

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: int) -> None:
        """Fill [x0, x1) x [y0, y1)."""
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        for y in range(y0, y1):
            self.rows[y][x0:x1] = bytes([colour]) * (x1 - x0)

    def text(self, x: int, y: int, text: str, colour: int, scale: int = 1) -> None:
        for i, char in enumerate(text):
            glyph = GLYPHS.get(char, GLYPHS[" "])
            left = x + i * 6 * scale
            for row, bits in enumerate(glyph):
                for col in range(5):
                    if bits & (1 << (4 - col)):
                        top = y + row * scale
                        self.rect(left + col * scale, top, left + (col + 1) * scale, top + scale,
                                  colour)  # fmt: skip

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(row) for row in self.rows)  # filter type 0 per line
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 3, 0, 0, 0)
        palette = b"".join(bytes(c) for c in PALETTE)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"PLTE", palette)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def text_width(text: str, scale: int = 1) -> int:
    return len(text) * 6 * scale - scale if text else 0


def bar_chart(
    bars: Sequence[Bar], capacity: int | None, width: int = 600, height: int = 240
) -> bytes:
    """Bars of registrations per day, the part new that day darker, and a red capacity line."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 44, 10, 12, 24  # margins for the figures
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([b.total for b in bars] + [capacity or 0, 1])
    step_value, top_value = _scale(peak)

    def y_of(value: float) -> int:
        return top + plot_h - round(plot_h * value / top_value)

    for tick in range(0, top_value + 1, step_value):
        y = y_of(tick)
        canvas.rect(left, y, left + plot_w, y + 1, GRID)
        label = str(tick)
        canvas.text(left - 6 - text_width(label, 2), y - 7, label, TEXT, 2)
    if bars:
        step = plot_w / len(bars)
        bar_w = max(2, round(step * 0.7))
        label_every = 1
        while text_width(bars[0].label) + 6 > step * label_every:
            label_every += 1
        for i, bar in enumerate(bars):
            x = left + round(i * step + (step - bar_w) / 2)
            base = y_of(0)
            canvas.rect(x, y_of(bar.total - bar.new), x + bar_w, base, EARLIER)
            canvas.rect(x, y_of(bar.total), x + bar_w, y_of(bar.total - bar.new), NEW)
            # Count from the right, so the newest day (the report's) always has its label.
            if (len(bars) - 1 - i) % label_every == 0:
                lx = left + round(i * step + step / 2) - text_width(bar.label) // 2
                canvas.text(lx, top + plot_h + 8, bar.label, TEXT)
    canvas.rect(left, top, left + 1, top + plot_h + 1, AXIS)
    canvas.rect(left, top + plot_h, left + plot_w, top + plot_h + 1, AXIS)
    if capacity:
        y = y_of(capacity)
        canvas.rect(left, y - 1, left + plot_w, y + 1, CAPACITY)
        label = str(capacity)
        # Above the line at the right end; below it when the line is at the top of the axis.
        ly = y - 11 if y - 11 >= 0 else y + 4
        lx = left + plot_w - text_width(label) - 2
        canvas.rect(lx - 2, ly - 1, lx + text_width(label) + 2, ly + 8, WHITE)
        canvas.text(lx, ly, label, CAPACITY)
    return canvas.png()


def _scale(peak: int) -> tuple[int, int]:
    """A round gridline step (1, 2, 2.5, 5 times a power of ten, whole numbers) giving at most
    five steps, and the top of the axis: the first multiple of it at or above ``peak``."""
    magnitude = 1
    while True:
        for factor in (1, 2, 2.5, 5):
            step = factor * magnitude
            if step == int(step) and step * 5 >= peak:
                top = -(-peak // int(step)) * int(step)
                return int(step), max(top, int(step))
        magnitude *= 10
