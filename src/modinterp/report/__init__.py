"""Reports: a self-contained HTML page built from sections of blocks (figures, tables, notes, code), so any
study or stage contributes its own sections. Study-specific sections live with their study (the growth study's
in `modinterp.studies.growth.report`) and read results only through that study's schema.

    from modinterp.report import Section, FigureBlock, TableBlock, write_report
    write_report([Section("Gap fits", [FigureBlock.from_figure("gap", fig)])], "runs/x", title="Title")
"""

from modinterp.report.html import (
    CodeBlock,
    FigureBlock,
    HtmlBlock,
    Section,
    TableBlock,
    TextBlock,
    figure_png,
    render_html,
    write_report,
)

__all__ = ["Section", "FigureBlock", "TableBlock", "TextBlock", "CodeBlock", "HtmlBlock", "render_html", "write_report",
           "figure_png"]
