"""Reports: plots (matplotlib Agg) and a self-contained HTML page built from sections.

The growth study's sections read its results only through `modinterp.studies.growth.schema`.

    from modinterp.report import build_growth_report, Section, FigureBlock, TableBlock
    build_growth_report("runs/demo", extra_sections=[Section("Gap fits", [FigureBlock.from_figure("gap", fig)])])
"""

from modinterp.report.growth import build_growth_report, growth_sections
from modinterp.report.html import (
    CodeBlock,
    FigureBlock,
    HtmlBlock,
    Section,
    TableBlock,
    TextBlock,
    render_html,
    write_report,
)
from modinterp.report.plots import figure_png, plot_controls, plot_final_profile, plot_losses, plot_probe_over_training

__all__ = [
    "build_growth_report", "growth_sections",
    "Section", "FigureBlock", "TableBlock", "TextBlock", "CodeBlock", "HtmlBlock", "render_html", "write_report",
    "figure_png", "plot_losses", "plot_probe_over_training", "plot_final_profile", "plot_controls",
]
