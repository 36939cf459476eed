"""One card per module for the HTML report: description, scores beside their controls, evidence boards,
reads/writes and interfaces. `description_sections(output)` gives `modinterp.report` sections; `write_cards`
writes them as a standalone `descriptions.html`."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from modinterp.report.html import HtmlBlock, Section, TableBlock, TextBlock, write_report


def _f(value: Any, digits: int = 3) -> str:
    """A score with `digits` decimals, '-' for None."""
    return "-" if value is None else f"{value:.{digits}f}"


def predicate_text(predicate: dict[str, Any]) -> str:
    """'2.1 * a - 0.3 * b' for a weighted predicate, the expression itself otherwise."""
    if predicate.get("expression"):
        return str(predicate["expression"])
    terms = [f"{w:+.3g} * {n}" for n, w in predicate.get("weights", {}).items()]
    return " ".join(terms).lstrip("+")


def _scores_table(scores: dict[str, Any]) -> str:
    """HTML table: each held-out score beside its two controls."""
    rows = [("simulation (Pearson r)", scores["simulation_r"], scores["random_description_simulation_r"], scores["shuffled_simulation_r"]),
            ("detection (balanced acc.)", scores["detection_bacc"], scores["random_description_detection_bacc"], scores["shuffled_detection_bacc"]),
            ("detection (AUPRC)", scores.get("detection_auprc"), scores.get("random_description_detection_auprc"), scores.get("shuffled_detection_auprc"))]
    body = "".join(f"<tr><td>{escape(n)}</td><td><b>{_f(a)}</b></td><td>{_f(b)}</td><td>{_f(c)}</td></tr>" for n, a, b, c in rows)
    return ("<table><tr><th>held-out score</th><th>this description</th><th>control: random other module's description</th>"
            f"<th>control: shuffled activations</th></tr>{body}</table>"
            f"<p class='note'>{scores['n_heldout']} held-out positions, top {scores['n_top']} vs as many random ones for detection.</p>")


_VERDICT = {True: "beats", False: "does not beat", None: "-"}


def _null_cells(scores: dict[str, Any], null: str, suffix: str) -> str:
    """'mean / max / p (n) / verdict' cells of one null (see `scoring.null_summary`), '-' where absent."""
    mean, top = scores.get(f"{null}_simulation_r{suffix}"), scores.get(f"{null}_simulation_r{suffix}_max")
    p, n = scores.get(f"{null}_p{suffix}"), scores.get(f"{null}_n{suffix}")
    verdict = _VERDICT[scores.get(f"beats_{null}{suffix}")]
    return (f"<td>{_f(mean)}</td><td>{_f(top)}</td><td>{_f(p)}{f' ({n})' if n else ''}</td>"
            f"<td>{escape(verdict)}</td>")


def _random_units_table(scores: dict[str, Any]) -> str:
    """HTML table: the simulation score, raw and phase-regressed, beside random units of the same size (the
    random partitions read with this predicate, and the random modules described on their own); '' without."""
    if scores.get("random_partition_n") is None and scores.get("described_random_module_n") is None:
        return ""
    rows = [("raw", scores.get("simulation_r"), ""), ("game phase regressed out", scores.get("simulation_r_phase_regressed"), "_phase_regressed")]
    body = "".join(f"<tr><td>{label}</td><td><b>{_f(real)}</b></td>{_null_cells(scores, 'random_partition', suffix)}"
                   f"{_null_cells(scores, 'described_random_module', suffix)}</tr>" for label, real, suffix in rows)
    return ("<table><tr><th>simulation r</th><th>this module</th><th>random partitions: mean</th><th>max</th>"
            "<th>p (draws)</th><th></th><th>random modules, own description: mean</th><th>max</th><th>p (draws)</th>"
            f"<th></th></tr>{body}</table>")


def module_card(module: str, description: dict[str, Any], evidence: dict[str, Any]) -> str:
    """An HTML fragment (all text escaped) for one module and one describer."""
    parts = [f"<div class='card' id='card-{escape(module)}'><h3>{escape(module)}: {escape(description['text'])}</h3>",
             f"<p class='note'>{escape(evidence['units'])}. Describer: {escape(description['describer'])}; "
             f"named concept: <code>{escape(str(description['concept']))}</code>; predicate: "
             f"<code>{escape(predicate_text(description['predicate']))}</code></p>", _scores_table(description["scores"]),
             _random_units_table(description["scores"])]
    corr = ", ".join(f"{escape(n)} ({r:+.2f})" for n, r in evidence["correlations"][:6])
    parts.append(f"<p><b>Concept correlations (evidence split):</b> {corr}</p>")
    if evidence.get("reads"):
        parts.append("<p><b>Reads (cell flip effect):</b> " + ", ".join(f"{escape(c)} ({v:.2f})" for c, v in evidence["reads"][:6]) + "</p>")
    if evidence.get("writes"):
        parts.append("<p><b>Moves when ablated:</b> " + ", ".join(f"{escape(o)} ({v:.3f})" for o, v in evidence["writes"][:4]) + "</p>")
    for itf in evidence.get("interfaces", [])[:6]:
        flow = f"; carries {escape(itf['flow_concept'])} (probe R2 {_f(itf['flow_r2'], 2)})" if itf.get("flow_concept") else ""
        parts.append(f"<p><b>Interface {escape(itf['direction'])} {escape(itf['other'])}:</b> min cut {itf['cut_weight']:.3g}{flow}; "
                     f"main edges: {escape(', '.join(itf['main_edges']))}</p>")
    boards = "".join(f"<figure><pre>{escape(e['board'])}</pre><figcaption>{escape(e['kind'])}: {e['activation']:+.3f}</figcaption></figure>"
                     for e in evidence.get("examples", [])[:7])
    parts.append(f"<div class='boards' style='display:flex;flex-wrap:wrap;gap:1em'>{boards}</div></div>")
    return "".join(parts)


def description_sections(output: dict[str, Any]) -> list[Section]:
    """Report sections: a summary table per describer, the interfaces, then one card per module."""
    sections = []
    summary_rows = []
    for name, res in output["describers"].items():
        s, r = res["mean_scores"], res["report"]
        summary_rows.append([name, f"{r['n_described']}/{r['n_modules']}", len(r.get("parse_failures", {})),
                             len(r.get("request_failures", {})), _f(s.get("simulation_r")), _f(s.get("random_description_simulation_r")),
                             _f(s.get("shuffled_simulation_r")), _f(s.get("detection_bacc")),
                             _f(s.get("random_description_detection_bacc")), _f(s.get("shuffled_detection_bacc")),
                             _f(s.get("detection_auprc")), _f(s.get("random_description_detection_auprc")),
                             _f(s.get("shuffled_detection_auprc"))])
    sections.append(Section("Module descriptions: scores", [
        TextBlock(f"Activation: {output['activation']}. Evidence on {output['n_evidence']} positions, scores on "
                  f"{output['n_heldout']} positions from other games."),
        TableBlock(["describer", "described", "parse failures", "request failures", "sim r", "ctl random desc", "ctl shuffled",
                    "detect bacc", "ctl random desc", "ctl shuffled", "detect AUPRC", "ctl random desc", "ctl shuffled"], summary_rows, "Mean over modules; controls beside each score.")]))
    not_described = output.get("partition", {}).get("not_described", {})
    if not_described:
        sections.append(Section("Modules not described", [TableBlock(["module", "why"], sorted(map(list, not_described.items())))]))
    if output.get("interfaces"):
        sections.append(Section("Module interfaces", [TableBlock(["interface"], [[i["sentence"]] for i in output["interfaces"]])]))
    for name, res in output["describers"].items():
        cards = [HtmlBlock(module_card(m, d, output["evidence"][m])) for m, d in sorted(res["modules"].items())]
        failures = {**res["report"].get("parse_failures", {}), **res["report"].get("request_failures", {})}
        if failures:
            cards.append(TableBlock(["module", "not described because"], [[m, why] for m, why in sorted(failures.items())]))
        sections.append(Section(f"Module cards ({name})", cards))
    return sections


def write_cards(output: dict[str, Any], out_dir: str | Path) -> Path:
    """Write `descriptions.html` (summary, interfaces, one card per module) in `out_dir`."""
    return write_report(description_sections(output), out_dir, "Module descriptions", str(output.get("run_dir", "")),
                        filename="descriptions.html", plots_dir="plots")
