"""A static, self-contained HTML report: the results table, the plots, and a per-question drill-down.

Every piece of text that comes from data or a user (questions, answers, references,
labels, ids, evidence, paths) goes through :func:`html.escape`; the page has no
external resources, and its only script filters the drill-down by a search string.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Sequence

from evaluation.report.collect import Job
from evaluation.report.table import table_rows

# What graph-prompted runs store per answer (prompting/graph_prompt.py BuiltPrompt.record), at the top
# level of a prediction or inside one of the EVIDENCE_GROUPS dicts.
EVIDENCE_KEYS = ("evidence_ids", "shown_edge_ids", "subgraph", "linked", "fallback_reason")
EVIDENCE_GROUPS = ("graph", "evidence")
CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:110em}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}
th{background:#f3f3f3}#results td:not(:first-child){white-space:nowrap}
details{border:1px solid #ddd;margin:.3em 0;padding:.3em .6em}summary{cursor:pointer}
pre{white-space:pre-wrap;margin:0;font-family:inherit}.ref{background:#f6fff3;padding:.4em}
img{max-width:100%;margin:.5em 0}.muted{color:#777}
"""
FILTER_JS = """
document.getElementById('filter').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase();
  document.querySelectorAll('details.question').forEach(function (d) {
    d.style.display = d.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
  });
});
"""


def esc(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def results_table(jobs: Sequence[Job], metrics: Sequence[str]) -> str:
    rows = table_rows(jobs, metrics)
    head = "".join(f"<th>{esc(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f'<table id="results"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _scores(row: dict, metrics: Sequence[str]) -> str:
    m = row.get("metrics", {})
    parts = [f"{esc(k)}: {'missing' if m.get(k) is None else f'{m[k]:.4f}'}" for k in metrics if k in m]
    return "<br>".join(parts)


def _evidence(row: dict) -> str:
    found = {k: row[k] for k in EVIDENCE_KEYS if row.get(k) not in (None, [], {})}
    for g in EVIDENCE_GROUPS:
        if isinstance(row.get(g), dict):
            found.update({k: row[g][k] for k in EVIDENCE_KEYS if row[g].get(k) not in (None, [], {})})
    parts = [f"<b>{esc(k)}</b>: {esc(json.dumps(v, ensure_ascii=False))}" for k, v in found.items()]
    return "<br>".join(parts) or '<span class="muted">none</span>'


def drilldown(jobs: Sequence[Job], preds: Sequence[dict[str, dict]], metrics: Sequence[str],
              limit: int | None = None) -> str:
    """One ``<details class="question">`` per question id: question, reference, each variant's answer and scores."""
    ids = list(dict.fromkeys(i for p in preds for i in p))  # union, in order of first appearance
    out = []
    for qid in ids[:limit]:
        first = next(p[qid] for p in preds if qid in p)
        rows = []
        for j, p in zip(jobs, preds):
            r = p.get(qid)
            if r is None:
                continue
            rows.append(f'<tr data-variant="{esc(j.label)}"><td>{esc(j.label)}</td>'
                        f'<td class="answer"><pre>{esc(r.get("answer"))}</pre></td>'
                        f'<td class="scores">{_scores(r, metrics)}</td><td class="evidence">{_evidence(r)}</td></tr>')
        out.append(
            f'<details class="question" id="q-{esc(qid)}"><summary><b>{esc(qid)}</b> '
            f'<span class="muted">{esc(first.get("domain", ""))}</span> {esc(first.get("question"))}</summary>'
            f'<p class="ref"><b>Reference:</b> {esc(first.get("reference"))}</p>'
            '<table class="answers"><thead><tr><th>variant</th><th>answer</th><th>scores</th><th>evidence</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></details>')
    return "\n".join(out)


def render_report(jobs: Sequence[Job], metrics: Sequence[str], plots: dict[str, Path], out_dir: Path, *,
                  title: str, sweep_dir: Path, limit: int | None = None) -> str:
    """The whole page; plots are linked relative to ``out_dir`` (where the page is written)."""
    preds = [{str(r["id"]): r for r in j.predictions()} for j in jobs]
    n_q = len({i for p in preds for i in p})
    imgs = "".join(f'<img src="{esc(p.relative_to(out_dir).as_posix())}" alt="{esc(name)}">'
                   for name, p in plots.items())
    shown = n_q if limit is None else min(limit, n_q)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1><p class=\"muted\">sweep: {esc(sweep_dir)} &middot; {len(jobs)} variants "
            f"&middot; {n_q} questions</p>"
            f"<h2>Results</h2>{results_table(jobs, metrics)}"
            f"<h2>Plots</h2>{imgs or '<p class=muted>no plots</p>'}"
            f"<h2>Questions</h2><p class=\"muted\">{shown} of {n_q} shown; click one to see every variant's answer.</p>"
            '<input id="filter" type="search" placeholder="filter questions, answers, ids" size="50">'
            f'<div id="questions">{drilldown(jobs, preds, metrics, limit)}</div>'
            f"<script>{FILTER_JS}</script></body></html>")
