"""Draw a question's evidence subgraph: a PNG (matplotlib, Agg) and a self-contained HTML page.

Linked concepts are filled red, evidence-path edges drawn thick orange, every edge is
labelled with its relation. The HTML page is one file with an inline SVG and a few lines
of JavaScript (drag a node, click for its definition or an edge's provenance), no network
access; every piece of user text goes through ``html.escape``. Layout: Fruchterman &
Reingold (1991) force-directed, ``networkx.spring_layout`` with a fixed seed.
"""

from __future__ import annotations

import html
from pathlib import Path

import networkx as nx

from kg.io import atomic_write_text
from kg.retrieval import Evidence

WIDTH, HEIGHT = 960, 640
LINKED, OTHER, PATH, EDGE = "#d62728", "#9ecae1", "#ff7f0e", "#8c8c8c"


def evidence_subgraph(G: nx.MultiDiGraph, ev: Evidence) -> nx.MultiDiGraph:
    """The nodes and triples of ``ev`` as a graph; edges have ``on_path``, nodes ``linked``."""
    linked = {c for c, _, _ in ev.linked}
    on_path = {t["edge_id"] for p in ev.paths for t in p}
    S = nx.MultiDiGraph()
    for n in ev.node_ids:
        a = G.nodes[n] if n in G else {}
        S.add_node(n, linked=n in linked, definition=a.get("definition", ""), domain=a.get("domain", ""))
    for t in ev.triples():
        S.add_edge(t["head"], t["tail"], key=t["relation"], relation=t["relation"], edge_id=t["edge_id"],
                   on_path=t["edge_id"] in on_path, weight=t["weight"], provenance=t["provenance"])
    return S


def layout(S: nx.MultiDiGraph) -> dict[str, tuple[float, float]]:
    """Pixel positions inside ``WIDTH x HEIGHT`` (deterministic for the same subgraph)."""
    if S.number_of_nodes() == 0:
        return {}
    if S.number_of_nodes() == 1:
        return {next(iter(S.nodes)): (WIDTH / 2, HEIGHT / 2)}
    pos = nx.spring_layout(nx.Graph(S.to_undirected()), seed=0, k=1.2 / S.number_of_nodes() ** 0.5)
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    sx, sy = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    left, right, top = 40, 180, 40  # labels sit right of their node
    return {n: (left + (x - min(xs)) / sx * (WIDTH - left - right), top + (y - min(ys)) / sy * (HEIGHT - 2 * top))
            for n, (x, y) in pos.items()}


def render_png(G: nx.MultiDiGraph, ev: Evidence, path: str | Path) -> Path:
    """Write the subgraph of ``ev`` as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    S, path = evidence_subgraph(G, ev), Path(path)
    pos = {n: (x, -y) for n, (x, y) in layout(S).items()}
    fig, ax = plt.subplots(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    ax.set_title(ev.question if len(ev.question) < 110 else ev.question[:107] + "...", fontsize=9)
    ax.axis("off")
    if S.number_of_nodes() == 0:
        ax.text(0.5, 0.5, "no concept linked: empty evidence", ha="center", va="center", transform=ax.transAxes)
    else:
        D = nx.DiGraph()
        D.add_nodes_from(S.nodes)
        for u, v, a in S.edges(data=True):
            d = D.get_edge_data(u, v) or {"labels": [], "on_path": False}
            D.add_edge(u, v, labels=d["labels"] + [a["relation"]], on_path=d["on_path"] or a["on_path"])
        on_path = [a["on_path"] for *_, a in D.edges(data=True)]
        nx.draw_networkx_edges(D, pos, ax=ax, edge_color=[PATH if p else EDGE for p in on_path],
                               width=[3.0 if p else 1.0 for p in on_path], arrows=True, node_size=600)
        labels: dict[tuple[str, str], list[str]] = {}  # one label per node pair, or both directions overlap
        for u, v, a in D.edges(data=True):
            key = (u, v) if (v, u) not in labels else (v, u)
            labels.setdefault(key, []).extend(a["labels"])
        nx.draw_networkx_edge_labels(D, pos, ax=ax, font_size=7,
                                     edge_labels={k: ", ".join(v) for k, v in labels.items()})
        nx.draw_networkx_nodes(D, pos, ax=ax, node_size=[600 if S.nodes[n]["linked"] else 300 for n in D],
                               node_color=[LINKED if S.nodes[n]["linked"] else OTHER for n in D])
        nx.draw_networkx_labels(D, pos, ax=ax, font_size=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _edge_svg(S, pos, u, v, a, i) -> str:
    (x1, y1), (x2, y2) = pos[u], pos[v]
    dx, dy = x2 - x1, y2 - y1
    norm = max((dx * dx + dy * dy) ** 0.5, 1e-6)
    lx, ly = (x1 + x2) / 2 - dy / norm * 12 * i, (y1 + y2) / 2 + dx / norm * 12 * i  # stack labels of parallel edges
    prov = "\n".join(f"[{p.get('qa_id') or p.get('source', '')}] {p.get('sentence') or ''}" for p in a["provenance"])
    detail = f"{u} --{a['relation']}--> {v} (weight {a['weight']:.2f})\n{prov}"
    e = html.escape
    return (f'<g class="edge{" on-path" if a["on_path"] else ""}" data-source="{e(u)}" data-target="{e(v)}" '
            f'data-edge-id="{e(a["edge_id"])}" data-offset="{i}" data-detail="{e(detail)}">'
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" marker-end="url(#arrow)"/>'
            f'<text class="edge-label" x="{lx:.1f}" y="{ly:.1f}">{e(a["relation"])}</text>'
            f"<title>{e(detail)}</title></g>")


def _node_svg(n, a, xy) -> str:
    e = html.escape
    r = 14 if a["linked"] else 9
    detail = f"{n} ({a['domain']}){': ' + a['definition'] if a['definition'] else ''}"
    return (f'<g class="node{" linked" if a["linked"] else ""}" data-id="{e(n)}" data-detail="{e(detail)}" '
            f'transform="translate({xy[0]:.1f},{xy[1]:.1f})"><circle r="{r}"/>'
            f'<text x="{r + 3}" y="4">{e(n)}</text><title>{e(detail)}</title></g>')


_STYLE = f"""body{{font-family:sans-serif;margin:16px}} svg{{border:1px solid #ddd;background:#fff}}
.node circle{{fill:{OTHER};stroke:#333;stroke-width:1;cursor:move}} .node.linked circle{{fill:{LINKED}}}
.node text{{font-size:12px;pointer-events:none}} .edge line{{stroke:{EDGE};stroke-width:1.2}}
.edge.on-path line{{stroke:{PATH};stroke-width:3.5}} .edge-label{{font-size:10px;fill:#555}}
#details{{white-space:pre-wrap;font-size:13px;margin-top:8px;max-width:{WIDTH}px}}"""

_SCRIPT = """(function(){
const svg=document.getElementById('graph'), details=document.getElementById('details');
const pos=id=>{const m=/translate\\(([-\\d.]+),([-\\d.]+)\\)/.exec(
  [...svg.querySelectorAll('g.node')].find(g=>g.dataset.id===id).getAttribute('transform'));return [+m[1],+m[2]];};
function redraw(){for(const g of svg.querySelectorAll('g.edge')){const [x1,y1]=pos(g.dataset.source),
  [x2,y2]=pos(g.dataset.target), l=g.querySelector('line'), t=g.querySelector('text'), i=+g.dataset.offset;
  const n=Math.max(Math.hypot(x2-x1,y2-y1),1e-6);
  l.setAttribute('x1',x1);l.setAttribute('y1',y1);l.setAttribute('x2',x2);l.setAttribute('y2',y2);
  t.setAttribute('x',(x1+x2)/2-(y2-y1)/n*12*i);t.setAttribute('y',(y1+y2)/2+(x2-x1)/n*12*i);}}
let drag=null;
for(const g of svg.querySelectorAll('g.node, g.edge')){
  g.addEventListener('click',()=>{details.textContent=g.dataset.detail;});}
for(const g of svg.querySelectorAll('g.node')){g.addEventListener('mousedown',e=>{drag=g;e.preventDefault();});}
svg.addEventListener('mousemove',e=>{if(!drag)return;const p=svg.createSVGPoint();p.x=e.clientX;p.y=e.clientY;
  const q=p.matrixTransform(svg.getScreenCTM().inverse());
  drag.setAttribute('transform',`translate(${q.x},${q.y})`);redraw();});
window.addEventListener('mouseup',()=>{drag=null;});
})();"""


def render_html(G: nx.MultiDiGraph, ev: Evidence, path: str | Path) -> Path:
    """Write the subgraph of ``ev`` as one self-contained interactive HTML page at ``path``."""
    S, path = evidence_subgraph(G, ev), Path(path)
    pos = layout(S)
    edges, seen = [], {}
    for u, v, a in S.edges(data=True):
        pair = tuple(sorted((u, v)))
        seen[pair] = seen.get(pair, -1) + 1
        edges.append(_edge_svg(S, pos, u, v, a, seen[pair]))
    nodes = [_node_svg(n, a, pos[n]) for n, a in S.nodes(data=True)]
    linked = ", ".join(f"{c} ({s:.2f}, {src})" for c, s, src in ev.linked) or "none: empty evidence"
    e = html.escape
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Evidence: {e(ev.question)}</title><style>{_STYLE}</style></head>
<body><h1 style="font-size:18px">{e(ev.question)}</h1>
<p>Linked: {e(linked)}. <span style="color:{LINKED}">&#9679;</span> linked concept,
<span style="color:{PATH}">&#9644;</span> evidence path. Drag nodes; click a node or edge for details.</p>
<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="24" refY="5" markerWidth="8" markerHeight="8"
markerUnits="userSpaceOnUse" orient="auto">
<path d="M0,0L10,5L0,10z" fill="{EDGE}"/></marker></defs>
<g class="edges">{"".join(edges)}</g><g class="nodes">{"".join(nodes)}</g></svg>
<div id="details"></div>
<script>{_SCRIPT}</script></body></html>
"""
    atomic_write_text(path, page)
    return path
