"""A self-contained HTML report built from a list of sections, so any stage can contribute its own.

A `Section` holds blocks: figures (PNG), tables, notes, code/JSON and trusted HTML. `write_report` embeds every
PNG in the page as a base64 data URI, so `report.html` alone is the whole report (it can be mailed, archived
or opened from any folder, offline), and also writes each PNG to `plots/NAME.png` next to it for reuse in
papers and docs.
"""

from __future__ import annotations

import base64
import io
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import jinja2
from markupsafe import Markup
from matplotlib.figure import Figure

from modinterp.atomic import atomic_write_bytes, atomic_write_text
from modinterp.report.templates import STYLE, TEMPLATE

DPI = 110


def figure_png(figure: Figure, dpi: int = DPI) -> bytes:
    """Render a figure to PNG bytes (Agg)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's header, or a clear error for bytes that are not a PNG."""
    if png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError("figure bytes are not a PNG image (expected the PNG signature and an IHDR chunk)")
    return struct.unpack(">II", png[16:24])


@dataclass(frozen=True)
class FigureBlock:
    """A PNG figure. `name` (lowercase letters, digits, - and _) becomes `plots/NAME.png` and the anchor."""

    name: str
    png: bytes
    caption: str = ""
    alt: str = ""
    kind: str = field(default="figure", init=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"figure name {self.name!r}: use lowercase letters, digits, '-' and '_' (it becomes a file name)")
        png_size(self.png)

    @classmethod
    def from_figure(cls, name: str, figure, caption: str = "", alt: str = "") -> "FigureBlock":
        return cls(name, figure_png(figure), caption, alt)

    @property
    def width(self) -> int:
        return png_size(self.png)[0]

    @property
    def height(self) -> int:
        return png_size(self.png)[1]

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class TableBlock:
    """A table; cells are shown with str() (format numbers before passing them)."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""
    kind: str = field(default="table", init=False)

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(f"table row {i} has {len(row)} cells; expected {len(self.columns)} (one per column {self.columns})")


@dataclass(frozen=True)
class TextBlock:
    """A paragraph of plain text (escaped)."""

    text: str
    kind: str = field(default="text", init=False)


@dataclass(frozen=True)
class CodeBlock:
    """Preformatted text such as a JSON config or manifest (escaped)."""

    text: str
    caption: str = ""
    folded: bool = False  # shown closed (<details>), the caption as its summary: for long appendices
    kind: str = field(default="code", init=False)


@dataclass(frozen=True)
class HtmlBlock:
    """Trusted HTML inserted as is (no external resources, please: the report must work offline)."""

    html: str
    kind: str = field(default="html", init=False)

    @property
    def markup(self) -> Markup:
        return Markup(self.html)


Block = Union[FigureBlock, TableBlock, TextBlock, CodeBlock, HtmlBlock]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


@dataclass(frozen=True)
class Section:
    """A titled part of the report; `anchor` defaults to a slug of the title."""

    title: str
    blocks: list[Block]
    anchor: str = ""

    def __post_init__(self) -> None:
        if not self.anchor:
            object.__setattr__(self, "anchor", slug(self.title))


def _check_unique(sections: list[Section]) -> None:
    anchors = [s.anchor for s in sections]
    names = [b.name for s in sections for b in s.blocks if isinstance(b, FigureBlock)]
    for label, values in (("section anchor", anchors), ("figure name", names)):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"{label}s must be unique; repeated: {repeated}")


def render_html(sections: list[Section], title: str, subtitle: str = "") -> str:
    """The report page as one HTML string (autoescaped; figures as data URIs)."""
    _check_unique(sections)
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(TEMPLATE).render(title=title, subtitle=subtitle, sections=sections, style=Markup(STYLE))


def write_report(sections: list[Section], out_dir: str | Path, title: str, subtitle: str = "",
                 filename: str = "report.html", plots_dir: str = "plots") -> Path:
    """Write `out_dir/filename` (self-contained) and every figure as `out_dir/plots_dir/NAME.png`; returns the HTML path."""
    out_dir = Path(out_dir)
    html = render_html(sections, title, subtitle)
    for block in (b for section in sections for b in section.blocks if isinstance(b, FigureBlock)):
        atomic_write_bytes(out_dir / plots_dir / f"{block.name}.png", block.png)
    return atomic_write_text(out_dir / filename, html)
