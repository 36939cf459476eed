"""Markdown verdict tables from analysed series (one row per pair and model)."""

from __future__ import annotations

import math


def _num(x, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def verdict_markdown(analyses: list[dict]) -> str:
    """One table: pair, model, offset [interval], zero inside?, BIC, prefix-CV RMSE, intervals agree, best forecaster."""
    lines = [
        "| Series | Model | Offset (mean curve) | Per-seed mean | 95% interval | Contains 0 | Time scale [95%] | BIC | Prefix-CV RMSE "
        "| Intervals overlap | Agree on 0 | Best by prefix CV |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    flagged = False
    for a in analyses:
        v = a["verdict"]
        for k, row in enumerate(v["rows"]):
            mark = "†" if row.get("at_bound") else ""
            flagged |= bool(mark)
            interval = f"[{_num(row['ci_low'])}, {_num(row['ci_high'])}] ({row['ci_method']})"
            zero = "fit failed" if not row["fit_success"] else {True: "yes", False: "no", None: "n/a"}[row["contains_zero"]]
            yes_no = {True: "yes", False: "no", None: "n/a"}
            agree = yes_no[v["intervals_agree"]] if k == 0 else ""
            zero_agree = yes_no[v.get("agree_on_zero")] if k == 0 else ""
            scale = f"{_num(row.get('time_scale'), 0)} [{_num(row.get('time_scale_ci_low'), 0)}, {_num(row.get('time_scale_ci_high'), 0)}]"
            best = (v["best_prefix_cv"] or "n/a") if k == 0 else ""
            lines.append(
                f"| {a['label'] if k == 0 else ''} | {row['model']} | {_num(row['offset'])}{mark} | {_num(a['models'][row['model']].get('offset_seed_mean'))} | {interval} | {zero} | "
                f"{scale} | {_num(row['bic'], 1)} | {_num(row['prefix_rmse_mean'])} | {agree} | {zero_agree} | {best} |"
            )
    if flagged:
        lines.append("")
        lines.append("† the point fit has a parameter (or the offset) at the edge of its data-derived range: not pinned down by the data.")
    return "\n".join(lines)


def final_window_markdown(analyses: list[dict]) -> str:
    """Model-free companion table: mean gap over the final window with a t-interval across seeds."""
    lines = ["| Series | Final window from | Mean gap | 95% t-interval over seeds |", "|---|---|---|---|"]
    for a in analyses:
        f = a["final_window"]
        lines.append(f"| {a['label']} | {_num(f.get('step_from'), 0)} | {_num(f['mean'])} | [{_num(f['ci_low'])}, {_num(f['ci_high'])}] |")
    return "\n".join(lines)
