"""Section-based HTML: self-contained, escaped, extensible, with PNG files written next to it."""

from __future__ import annotations

import base64
import re

import pytest
from matplotlib.figure import Figure

from modinterp.report import (
    CodeBlock,
    FigureBlock,
    HtmlBlock,
    Section,
    TableBlock,
    TextBlock,
    render_html,
    write_report,
)
from modinterp.report.html import png_size
from modinterp.studies.growth.report import alpha_edge_line
from modinterp.studies.growth.schema import parse_results


def tiny_figure(width_in: float = 2.0) -> Figure:
    figure = Figure(figsize=(width_in, 1.5))
    figure.add_subplot().plot([0, 1], [1, 0])
    return figure


@pytest.fixture(scope="module")
def growth_html(built_report):
    run_dir, path = built_report
    return run_dir, path.read_text(encoding="utf-8")


def test_report_needs_no_network_and_no_scripts(growth_html):
    _, html = growth_html
    assert not re.search(r"(src|href)\s*=\s*\"(https?:)?//", html)
    assert "<script" not in html and "<link" not in html


def test_every_figure_is_embedded_and_also_written_as_a_png_file(growth_html):
    run_dir, html = growth_html
    embedded = re.findall(r'<figure id="fig-([a-z0-9_-]+)">\s*<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert [name for name, _ in embedded] == ["answer-late-window-gap", "losses", "probe-r2-over-training",
                                              "probe-r2-profile", "controls", "frozen-over-training", "gap"]
    for name, data in embedded:
        assert base64.b64decode(data) == (run_dir / "plots" / f"{name}.png").read_bytes()


def test_extra_sections_come_after_the_standard_results_and_before_the_configuration(growth_html):
    _, html = growth_html
    titles = re.findall(r"<h2>(.*?)</h2>", html)
    assert titles == ["Answer: does the gap persist?", "Training", "Probe over training", "Probe by layer", "Controls",
                      "Embedding verification",
                      "Final numbers", "Gap analysis", "Configuration", "Manifest"]


def test_config_values_are_escaped_not_interpreted(growth_html):
    _, html = growth_html
    assert "&lt;b&gt;escaped&lt;/b&gt;" in html and "<b>escaped</b>" not in html


def test_verification_table_shows_the_largest_difference_and_the_verdict(growth_html):
    _, html = growth_html
    assert "3.1e-07 (passes the fp32 tolerance 1e-05)" in html
    assert "<td>large-embed-aux s1</td><td>3.1e-07</td>" in html
    assert "<summary>results.json &#39;verification&#39; in full</summary>" in html  # the rest, folded


def test_final_numbers_table_has_a_row_per_condition(growth_html, make_results):
    _, html = growth_html
    table = html.split("<h2>Final numbers</h2>")[1].split("</table>")[0]
    assert [row for row in re.findall(r"<tr><td>([a-z-]+)</td>", table)] == make_results()["conditions"]


def test_blocks_of_every_kind_render(tmp_path):
    section = Section("All kinds", [
        TextBlock("a < b"), TableBlock(["x", "y"], [[1, "<i>"]], caption="cap"), CodeBlock('{"k": 1}', caption="json"),
        HtmlBlock("<em>trusted</em>"), FigureBlock.from_figure("f1", tiny_figure()),
    ])
    html = write_report([section], tmp_path, "Title & more").read_text()
    assert "a &lt; b" in html and "<td>&lt;i&gt;</td>" in html and "<em>trusted</em>" in html
    assert "<title>Title &amp; more</title>" in html and 'href="#all-kinds"' in html
    assert (tmp_path / "plots" / "f1.png").exists()


def test_figure_size_attributes_match_the_png(tmp_path):
    block = FigureBlock.from_figure("wide", tiny_figure(4.0))
    html = render_html([Section("S", [block])], "t")
    width, height = png_size(block.png)
    assert f'width="{width}" height="{height}"' in html and width > height


def test_repeated_figure_names_are_rejected():
    png = FigureBlock.from_figure("a", tiny_figure()).png
    with pytest.raises(ValueError, match=r"figure names must be unique; repeated: \['a'\]"):
        render_html([Section("one", [FigureBlock("a", png)]), Section("two", [FigureBlock("a", png)])], "t")


def test_figure_name_must_be_usable_as_a_file_name():
    with pytest.raises(ValueError, match="figure name 'Loss Curves'"):
        FigureBlock("Loss Curves", FigureBlock.from_figure("ok", tiny_figure()).png)


def test_figure_bytes_must_be_a_png():
    with pytest.raises(ValueError, match="not a PNG"):
        FigureBlock("x", b"GIF89a....")


def test_table_rows_must_match_the_columns():
    with pytest.raises(ValueError, match="row 1 has 1 cells; expected 2"):
        TableBlock(["a", "b"], [[1, 2], [3]])


def test_answer_counts_alpha_grid_edges_of_the_passthrough_fits(make_results):
    data = make_results()
    data["passthrough"][0]["n_alphas_at_edge"], data["passthrough"][0]["n_alphas_at_open_edge"] = 2, 1
    data["passthrough"][1]["n_alphas_at_edge"] = 1
    line = alpha_edge_line(parse_results(data))
    assert line.startswith(f"Alpha grid: 3 of {5 * len(data['passthrough'])} passthrough probe fits") and ", 1 of them" in line
