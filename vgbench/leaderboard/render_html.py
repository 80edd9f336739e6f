"""One self-contained HTML page with every benchmark: sortable tables, footnotes, protocols and plots.

Nothing is loaded from the network: styles and the sorting script are inline and the matplotlib figures
are embedded as base64 PNG data URIs, so the file can be mailed, archived or served as is. Measured cells with a
bootstrap interval show it beside the value (``data-ci95``) and as error bars in the plots. Opening the page
with ``#selftest`` makes the script sort every table by its first metric column and record the outcome in
``<body data-selftest=...>`` (used by the headless-browser test).
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone

from . import plots
from .schema import KINDS
from .store import Leaderboards
from .table import Table, build_table

MISSING = "—"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
 padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{margin-bottom:.2rem} h2{margin-top:2.5rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
nav a{margin-right:.8rem} code{background:#f3f3f3;padding:0 .25rem;border-radius:3px}
table.lb{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
table.lb th,table.lb td{padding:.3rem .6rem;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
table.lb th:first-child,table.lb td:first-child,table.lb td.src,table.lb th.src{text-align:left}
table.lb td.src{white-space:normal;color:#555;font-size:.85rem}
table.lb thead th{cursor:pointer;background:#fafafa;border-bottom:2px solid #bbb;user-select:none}
table.lb thead th[aria-sort=ascending]::after{content:" \\25B2";font-size:.7em}
table.lb thead th[aria-sort=descending]::after{content:" \\25BC";font-size:.7em}
tr.measured td{background:#fff6e6} tr.kind-reference td{color:#666;font-style:italic}
ol.notes,ul.notes{font-size:.82rem;color:#444} figure{display:inline-block;margin:.5rem 1rem .5rem 0}
figure img{max-width:100%;border:1px solid #eee} figcaption{font-size:.8rem;color:#555}
details{margin:.5rem 0} dl.protocols dt{font-weight:600;margin-top:.8rem} dl.protocols dd{margin-left:1rem}
.meta{color:#666;font-size:.85rem} span.ci{color:#777;font-size:.75rem}
"""

_JS = r"""
(function(){
  function cellValue(td, type){
    if(type === 'num'){
      var v = td.getAttribute('data-value');
      return (v === null || v === '') ? null : parseFloat(v);
    }
    return (td.textContent || '').trim().toLowerCase();
  }
  function sortTable(table, col, dir){
    var ths = table.tHead.rows[table.tHead.rows.length - 1].cells;
    var type = ths[col].getAttribute('data-type') || 'text';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function(a, b){
      var x = cellValue(a.cells[col], type), y = cellValue(b.cells[col], type);
      if(x === null && y === null) return 0;
      if(x === null) return 1;           // missing values always last
      if(y === null) return -1;
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return dir === 'ascending' ? c : -c;
    });
    rows.forEach(function(r){ body.appendChild(r); });
    for(var i = 0; i < ths.length; i++){ ths[i].removeAttribute('aria-sort'); }
    ths[col].setAttribute('aria-sort', dir);
  }
  function isSorted(table, col){
    var vals = Array.prototype.map.call(table.tBodies[0].rows, function(r){
      return cellValue(r.cells[col], 'num'); }).filter(function(v){ return v !== null; });
    for(var i = 1; i < vals.length; i++){ if(vals[i] < vals[i-1]) return false; }
    return true;
  }
  var tables = document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables, function(table){
    var ths = table.tHead.rows[table.tHead.rows.length - 1].cells;
    Array.prototype.forEach.call(ths, function(th, col){
      th.addEventListener('click', function(){
        var dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
        sortTable(table, col, dir);
      });
    });
  });
  document.documentElement.setAttribute('data-sortable', String(tables.length));
  if(location.hash === '#selftest'){
    var bad = [];
    Array.prototype.forEach.call(tables, function(table){
      var ths = table.tHead.rows[table.tHead.rows.length - 1].cells;
      for(var c = 0; c < ths.length; c++){
        if(ths[c].getAttribute('data-type') === 'num'){
          ths[c].click();
          if(!isSorted(table, c) || ths[c].getAttribute('aria-sort') !== 'ascending') bad.push(table.id);
          break;
        }
      }
    });
    document.body.setAttribute('data-selftest', bad.length ? 'fail:' + bad.join(',') : 'ok:' + tables.length);
  }
})();
"""


def _e(s) -> str:
    return html.escape(str(s), quote=True)


def _sup(marks: list[str]) -> str:
    return f"<sup>{_e(','.join(marks))}</sup>" if marks else ""


def table_html(table: Table, table_id: str) -> str:
    """One sortable ``<table>`` plus its footnotes."""
    out = [f'<table class="lb sortable" id="{_e(table_id)}">', "<thead>"]
    if table.multi:
        out.append("<tr><th></th>")
        groups = table.column_groups()
        out += [f'<th colspan="{n}">{_e(name)}</th>' for name, n in groups]
        out.append("<th></th></tr>")
    out.append('<tr><th data-type="text">Method</th>')
    for col in table.columns:
        better = col.metric.better or ""
        out.append(f'<th data-type="num" data-metric="{_e(col.key)}" data-better="{better}">'
                   f'{_e(table.column_title(col, with_benchmark=False))}</th>')
    out.append('<th data-type="text" class="src">Source</th></tr></thead><tbody>')
    for r in table.rows:
        out.append(f'<tr class="{_e(r.origin)} kind-{_e(r.kind)}">')
        out.append(f"<td>{_e(r.label)}{_sup(r.marks)}</td>")
        for col in table.columns:
            cell = r.cells.get(col.key)
            if cell is None or cell.is_missing:
                out.append(f'<td data-value="">{MISSING}</td>')
                continue
            text = _e(cell.display(col.metric.decimals))
            if col.key in r.best:
                text = f"<strong>{text}</strong>"
            if cell.ci95 is not None:
                ci = cell.interval_text(col.metric.decimals)
                out.append(f'<td data-value="{cell.value!r}" data-ci95="{cell.ci95[0]!r} {cell.ci95[1]!r}" '
                           f'title="95% bootstrap interval {ci}">{text}<span class="ci"> {ci}</span></td>')
                continue
            out.append(f'<td data-value="{cell.value!r}">{text}</td>')
        out.append(f'<td class="src">{_e(r.source)}{_sup(r.source_marks)}</td></tr>')
    out.append("</tbody></table>")
    if table.footnotes:
        out.append('<ul class="notes">')
        for mark, text in table.footnotes:
            out.append(f"<li>{_sup([mark]) if mark else ''} {_e(text)}</li>")
        out.append("</ul>")
    return "\n".join(out)


def _img(png: bytes | None, alt: str, caption: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def to_html(lb: Leaderboards, benchmarks: list[str] | None = None, plots_enabled: bool = True) -> str:
    """The whole page (all benchmarks unless ``benchmarks`` is given)."""
    ids = [lb.resolve(b).id for b in benchmarks] if benchmarks else list(lb.benchmarks)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>vgbench leaderboards</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>vgbench leaderboards</h1>",
             f'<p class="meta">Published results transcribed from the papers, with their sources and protocols, '
             f"next to results measured with vgbench. Click a column header to sort. Generated {_e(stamp)}.</p>",
             "<nav>" + "".join(f'<a href="#bench-{_e(i)}">{_e(lb.benchmarks[i].title)}</a>' for i in ids)
             + '<a href="#protocols">Protocols</a><a href="#papers">Papers</a></nav>']
    for bid in ids:
        bench = lb.benchmarks[bid]
        main = build_table(lb, [bid])
        n_pub, n_meas = len(bench.rows), len(bench.measured)
        parts.append(f'<section id="bench-{_e(bid)}"><h2>{_e(bench.title)} <code>{_e(bid)}</code></h2>')
        parts.append(f'<p class="meta">Dataset {_e(bench.dataset)}, resolution {_e(bench.resolution)}, '
                     f"protocol family {_e(bench.protocol_family)}; {n_pub} published row(s), {n_meas} measured "
                     "with vgbench.</p>")
        parts.append(table_html(main, f"table-{bid}"))
        if plots_enabled:
            parts.append(_img(plots.fvd16_vs_fvd128(main, bid), f"FVD16 vs FVD128 on {bench.title}",
                              f"FVD16 vs FVD128 on {bench.title} (main comparison rows)."))
            parts.append(_img(plots.cost_vs_fvd16(main, bid), f"Training cost vs FVD16 on {bench.title}",
                              f"Training cost (GPU-days) vs FVD16 on {bench.title}, as in StyleGAN-V Fig. 3."))
        full = build_table(lb, [bid], kinds=list(KINDS), with_quoted=True)
        if len(full.rows) > len(main.rows):
            parts.append("<details><summary>All transcribed rows: ablations, protocol-sensitivity records, "
                         f"components and re-quoted numbers ({len(full.rows)} rows)</summary>")
            parts.append(table_html(full, f"table-{bid}-all"))
            parts.append("</details>")
        parts.append("</section>")
    parts.append('<section id="protocols"><h2>Protocols as the papers state them</h2><dl class="protocols">')
    for p in lb.protocols.values():
        parts.append(f"<dt>{_e(lb.papers[p.paper].short)} <code>{_e(p.key)}</code></dt>"
                     f"<dd>{_e(' '.join(p.statement.split()))}</dd>")
    parts.append("</dl></section>")
    parts.append('<section id="papers"><h2>Papers</h2><ul>')
    for p in lb.papers.values():
        extra = "".join(f"<br><em>Missing from the text:</em> {_e(m)}" for m in p.missing_tables)
        venue = f", {_e(p.venue)}" if p.venue else ""
        parts.append(f"<li><strong>{_e(p.short)}</strong> <code>{_e(p.key)}</code>: {_e(p.title)} "
                     f"({_e(p.authors)}{venue}); text file <code>{_e(p.file)}</code>{extra}</li>")
    parts.append("</ul></section>")
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts) + "\n"
