"""The practice's accent colour and the colours drawn with it, chosen so that text keeps a
contrast of at least 4.5:1 (WCAG 2.2 AA) whatever accent the practice picks.

- ``ink``: text on the accent (buttons, the chosen day and time): black or white, whichever
  contrasts more; one of the two always reaches 4.5:1 (at worst about 4.6:1).
- ``text``: the accent as text or a border on the page's white (links, the chosen day's
  outline): the accent itself when it is dark enough, else the accent darkened until it is.
"""

from __future__ import annotations

from dataclasses import dataclass

WHITE = "#ffffff"
BLACK = "#000000"
#: The darkest background the accent's text colour must stand on (the page's panels).
PANEL = "#f4f6f8"
AA_TEXT = 4.5


def _rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(min(255.0, max(0.0, c))):02x}" for c in rgb)


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio between two colours (1 to 21)."""
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def ink_on(background: str) -> str:
    """Black or white, whichever reads better on ``background``."""
    return WHITE if contrast(WHITE, background) >= contrast(BLACK, background) else BLACK


def darkened_for_text(colour: str, on: tuple[str, ...] = (WHITE, PANEL)) -> str:
    """``colour``, darkened in steps (hue kept) until it reaches 4.5:1 on every colour of ``on``."""
    r, g, b = (float(v) for v in _rgb(colour))
    candidate = colour
    for _ in range(100):
        if all(contrast(candidate, background) >= AA_TEXT for background in on):
            return candidate
        r, g, b = r * 0.93, g * 0.93, b * 0.93
        candidate = _hex((r, g, b))
    return BLACK


@dataclass(frozen=True)
class Palette:
    accent: str
    ink: str
    text: str

    @classmethod
    def for_accent(cls, accent: str) -> Palette:
        return cls(accent=accent, ink=ink_on(accent), text=darkened_for_text(accent))

    def css_variables(self) -> str:
        return f":root{{--accent:{self.accent};--accent-ink:{self.ink};--accent-text:{self.text}}}"
