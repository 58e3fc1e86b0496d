"""The report as one self-contained HTML file: inline CSS, inline SVG charts drawn here.

No JavaScript, no fonts or images from elsewhere, no link that loads anything: the file opens
from a USB stick, a mail attachment or the daemon's `/report` without network. Each chart is
an `<svg role="img">` with a title and a description, carries its numbers next to the bars, and
is followed by a table with the same numbers, for screen readers and for copying.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from html import escape

from kontaktsync.sync.core.proposals import Outlook
from kontaktsync.sync.report.figures import AGE_BUCKETS, Figures, Group

TEAM_LABELS = {
    "standard": "Standard",
    "fallmanagement": "Fallmanagement",
    "50plus": "50plus",
    "selbststaendige": "Selbstständige",
    "bjo": "BJO",
    "reha": "Reha",
    "all teams": "All teams",
}
Label = Callable[[str], str]  # a group's name as shown
GOOD, BAD, BAR, INK, MUTED = "#2e7d32", "#c62828", "#3f6fb5", "#1c2430", "#5b6675"
AGE_COLOURS = ("#f2b84b", "#e8833a", "#c9442c", "#7a1f1f")

CSS = """
*{box-sizing:border-box}
body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;color:#1c2430;background:#f4f6f9;margin:0;
 padding:24px 32px;font-size:15px;line-height:1.4}
main{max-width:1120px;margin:0 auto}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:0 0 8px}
.sub{color:#5b6675;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-bottom:18px}
.card{background:#fff;border-radius:8px;padding:12px 14px;border-left:6px solid #3f6fb5;
 box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card.good{border-color:#2e7d32}.card.bad{border-color:#c62828}.card.warn{border-color:#e8833a}
.card .big{font-size:28px;font-weight:bold;display:block}
.card .small{color:#5b6675;font-size:13px}
section{background:#fff;border-radius:8px;padding:16px 18px;margin-bottom:16px;
 box-shadow:0 1px 2px rgba(0,0,0,.08)}
figure{margin:0}
svg{display:block;max-width:100%;height:auto}
svg text{font-family:"DejaVu Sans",Verdana,Arial,sans-serif}
.grid{display:grid;grid-template-columns:repeat(3,1fr);gap:10px}
table{border-collapse:collapse;margin-top:10px;font-size:13px;width:100%}
caption{text-align:left;color:#5b6675;padding-bottom:4px}
th,td{border-bottom:1px solid #e3e7ed;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{background:#eef1f5}
td.bad{color:#c62828;font-weight:bold}
.note{color:#5b6675;font-size:13px;margin:8px 0 0}
details summary{cursor:pointer;color:#3f6fb5;font-size:13px;margin-top:6px}
@media print{body{background:#fff;padding:0}section,.card{box-shadow:none;border:1px solid #ccc}}
"""


def team_label(name: str) -> str:
    return TEAM_LABELS.get(name, name)


def _n(n: int, noun: str) -> str:
    """`1 case`, `2 cases`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.0f} %"


def _num(x: float) -> str:
    return f"{round(x, 1):g}"


def _kw(monday: date) -> str:
    return f"KW {monday.isocalendar().week}"


def _svg(chart_id: str, width: int, height: int, title: str, desc: str, body: Iterable[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _rect(x: float, y: float, w: float, h: float, fill: str) -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}"/>'


def _text(
    x: float, y: float, text: str, size: int = 14, anchor: str = "start", fill: str = INK, **attrs: str
) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{extra}>'
        f"{escape(text)}</text>"
    )


def _table(caption: str, head: Sequence[str], rows: Iterable[Sequence[tuple[str, bool]]]) -> str:
    """A table whose cells are (text, highlight) pairs; highlighted cells are shown in red."""
    out = [f"<details><summary>{escape(caption)}: the numbers as a table</summary>"]
    out.append(f"<table><caption>{escape(caption)}</caption><thead><tr>")
    out += [f'<th scope="col">{escape(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        head_cell = f'<th scope="row">{escape(row[0][0])}</th>'
        cells = [head_cell] + [f"<td{' class=bad' if bad else ''}>{escape(t)}</td>" for t, bad in row[1:]]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></details>")
    return "".join(out)


# --- chart 1: density kept per group against the quota --------------------------------------------


def compliance_chart(groups: Sequence[Group], quota: float, chart_id: str, label: Label = team_label) -> str:
    label_w, bar_w, row_h, top = 190, 600, 34, 34
    height = top + row_h * len(groups) + 26
    parts = []
    for i, g in enumerate(groups):
        y = top + i * row_h
        bold = {"font_weight": "bold"} if i == 0 and g.name == "all teams" else {}
        parts.append(_text(label_w - 10, y + 20, label(g.name), anchor="end", **bold))
        parts.append(_rect(label_w, y + 4, bar_w, row_h - 10, "#eef1f5"))
        share = g.share_kept
        if share is None:
            parts.append(_text(label_w + 8, y + 20, "no case with a recurring contact", 13, fill=MUTED))
            continue
        colour = GOOD if share >= quota else BAD
        w = bar_w * share
        parts.append(_rect(label_w, y + 4, w, row_h - 10, colour))
        value = f"{_pct(share)} ({g.density_kept} of {g.with_contact_rule})"
        parts.append(_text(label_w + bar_w + 10, y + 20, value, font_weight="bold"))
    qx = label_w + bar_w * quota
    parts.append(
        f'<line x1="{qx:.1f}" y1="{top - 6}" x2="{qx:.1f}" y2="{height - 22}" stroke="{INK}" '
        'stroke-width="2" stroke-dasharray="6 4"/>'
    )
    parts.append(_text(qx, top - 12, f"target {quota * 100:.0f} %", 13, anchor="middle", font_weight="bold"))
    for tick in (0, 0.25, 0.5, 0.75, 1):
        tx = label_w + bar_w * tick
        parts.append(_text(tx, height - 6, f"{tick * 100:.0f} %", 12, "middle", fill=MUTED))
    kept = ", ".join(f"{label(g.name)} {_pct(g.share_kept)}" for g in groups)
    return _svg(
        chart_id,
        label_w + bar_w + 190,
        height,
        f"Contact density kept, against the {quota * 100:.0f} % target",
        f"Share of cases whose recurring contact is not overdue: {kept}.",
        parts,
    )


def compliance_table(groups: Sequence[Group], quota: float, caption: str, label: Label = team_label) -> str:
    rows = []
    for g in groups:
        below = g.meets_quota(quota) is False
        rows.append(
            [
                (label(g.name), False),
                (str(g.cases), False),
                (str(g.with_contact_rule), False),
                (str(g.density_kept), False),
                (_pct(g.share_kept), below),
                (str(g.without_contact_rule), False),
                (str(g.unmatched), g.unmatched > 0),
            ]
        )
    head = ["", "cases", "with recurring contact", "kept", "share kept", "not counted", "of these unmatched"]
    return _table(caption, head, rows)


# --- chart 2: overdue obligations by age ------------------------------------------------------------


def overdue_chart(groups: Sequence[Group], chart_id: str, label: Label = team_label) -> str:
    label_w, bar_w, row_h, top = 190, 640, 34, 44
    height = top + row_h * len(groups) + 10
    biggest = max((g.overdue for g in groups), default=0) or 1
    parts = []
    x = label_w
    for (name, _, _), colour in zip(AGE_BUCKETS, AGE_COLOURS, strict=True):
        parts.append(f'<rect x="{x}" y="6" width="14" height="14" fill="{colour}"/>')
        parts.append(_text(x + 20, 18, name, 13))
        x += 130
    parts.append(_text(x + 10, 18, "overdue since", 13, fill=MUTED))
    for i, g in enumerate(groups):
        y = top + i * row_h
        bold = {"font_weight": "bold"} if i == 0 and g.name == "all teams" else {}
        parts.append(_text(label_w - 10, y + 20, label(g.name), anchor="end", **bold))
        x = float(label_w)
        for (name, _, _), colour in zip(AGE_BUCKETS, AGE_COLOURS, strict=True):
            n = g.overdue_by_age[name]
            if not n:
                continue
            w = bar_w * n / biggest
            parts.append(_rect(x, y + 4, w, row_h - 10, colour))
            if w >= 26:
                fill = "#ffffff" if colour in AGE_COLOURS[2:] else INK
                parts.append(_text(x + w / 2, y + 20, str(n), 12, "middle", fill=fill))
            x += w
        parts.append(_text(x + 8, y + 20, f"{g.overdue} overdue", font_weight="bold"))
    summary = "; ".join(
        f"{label(g.name)}: {g.overdue} (" + ", ".join(f"{k} {v}" for k, v in g.overdue_by_age.items()) + ")"
        for g in groups
    )
    return _svg(
        chart_id,
        label_w + bar_w + 150,
        height,
        "Overdue obligations by days past due",
        f"Overdue obligations: {summary}.",
        parts,
    )


def overdue_table(groups: Sequence[Group], caption: str, label: Label = team_label) -> str:
    head = ["", *(name for name, _, _ in AGE_BUCKETS), "overdue"]
    rows = [
        [
            (label(g.name), False),
            *((str(n), False) for n in g.overdue_by_age.values()),
            (str(g.overdue), False),
        ]
        for g in groups
    ]
    return _table(caption, head, rows)


# --- chart 3: the coming weeks' load against capacity ---------------------------------------------


def load_chart(g: Group, chart_id: str, title: str, small: bool = False) -> str:
    width, height = (340, 190) if small else (1000, 260)
    left, right, top, bottom = (34, 10, 30, 40) if small else (60, 150, 30, 48)
    plot_w, plot_h = width - left - right, height - top - bottom
    weeks = list(g.load.items())
    peak = max([g.capacity, *(n for _, n in weeks)]) or 1
    scale = plot_h / (peak * 1.12)
    step = plot_w / max(len(weeks), 1)
    bar = step * (0.55 if small else 0.5)
    size = 12 if small else 14
    parts = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{MUTED}"/>'
    ]
    if small:
        parts.append(_text(4, 16, title, 13, font_weight="bold"))
    for i, (monday, n) in enumerate(weeks):
        cx = left + step * (i + 0.5)
        h = n * scale
        colour = BAD if n > g.capacity else BAR
        parts.append(
            f'<rect x="{cx - bar / 2:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            f'fill="{colour}"/>'
        )
        parts.append(_text(cx, top + plot_h - h - 6, str(n), size, "middle", font_weight="bold"))
        parts.append(_text(cx, top + plot_h + 17, _kw(monday), size, "middle"))
        if not small:
            parts.append(_text(cx, top + plot_h + 34, f"from {monday:%d.%m.}", 12, "middle", fill=MUTED))
    cy = top + plot_h - g.capacity * scale
    parts.append(
        f'<line x1="{left}" y1="{cy:.1f}" x2="{left + plot_w}" y2="{cy:.1f}" stroke="{INK}" '
        'stroke-width="2" stroke-dasharray="6 4"/>'
    )
    cap = f"capacity {_num(g.capacity)}"
    if small:
        parts.append(_text(left + plot_w, cy - 5, cap, 11, "end", fill=INK))
    else:
        parts.append(_text(left + plot_w + 8, cy + 5, cap, 14, font_weight="bold"))
        people = f"({_num(g.counsellors)} counsellors)"
        parts.append(_text(left + plot_w + 8, cy + 22, people, 12, fill=MUTED))
    loads = ", ".join(f"{_kw(m)} {n}" for m, n in weeks)
    return _svg(
        chart_id,
        width,
        height,
        title,
        f"Obligations due per calendar week against a capacity of {_num(g.capacity)} talks: {loads}.",
        parts,
    )


def load_table(
    groups: Sequence[Group], weeks: Sequence[date], caption: str, label: Label = team_label
) -> str:
    head = ["", "counsellors", "capacity / week", *(_kw(m) for m in weeks)]
    rows = [
        [
            (label(g.name), False),
            (_num(g.counsellors), False),
            (_num(g.capacity), False),
            *((str(g.load[m]), g.load[m] > g.capacity) for m in weeks),
        ]
        for g in groups
    ]
    return _table(caption, head, rows)


# --- the page -------------------------------------------------------------------------------------


def _card(value: str, label: str, detail: str, tone: str = "") -> str:
    return (
        f'<div class="card {tone}"><span class="small">{escape(label)}</span>'
        f'<span class="big">{escape(value)}</span><span class="small">{escape(detail)}</span></div>'
    )


def _cards(f: Figures) -> str:
    t, nc = f.total, f.not_counted
    kept_ok = t.meets_quota(f.quota)
    this_week = t.load.get(f.weeks[0], 0) if f.weeks else 0
    left_out = nc.cases_held + (1 if nc.held_unknown else 0)
    return (
        '<div class="cards">'
        + _card(
            _pct(t.share_kept),
            "contact density kept",
            f"{t.density_kept} of {t.with_contact_rule} cases; target {f.quota * 100:.0f} %",
            "" if kept_ok is None else "good" if kept_ok else "bad",
        )
        + _card(
            str(t.overdue),
            "overdue obligations",
            f"of these > 90 days: {t.overdue_by_age['> 90 days']}",
            "bad" if t.overdue else "good",
        )
        + _card(
            f"{this_week} / {_num(t.capacity)}",
            f"due this week ({_kw(f.weeks[0])})" if f.weeks else "due this week",
            f"capacity: {f.capacity_per_counsellor} talks × {_num(t.counsellors)} counsellors",
            "bad" if this_week > t.capacity else "good",
        )
        + _card(
            str(left_out + t.without_contact_rule),
            "cases not in the density share",
            f"{_n(left_out, 'case')} left out for {_n(nc.rows_in_error, 'row')} in error, "
            f"{_n(t.without_contact_rule, 'case')} without a recurring contact ({nc.unmatched} unmatched)",
            "warn" if nc.rows_in_error or t.without_contact_rule or left_out else "good",
        )
        + "</div>"
    )


def _not_counted(f: Figures) -> str:
    nc = f.not_counted
    held = _n(nc.cases_held, "case")
    if nc.held_unknown:
        held += " and more whose customer number could not be read"
    lines = [
        "<section><h2>What this report cannot count</h2><ul>",
        f"<li><b>{_n(nc.rows_in_error, 'row')}</b> in error were left out"
        + (
            " (" + ", ".join(f"{escape(k)}: {v}" for k, v in nc.rows_by_file.items()) + ")"
            if nc.rows_by_file
            else ""
        )
        + f"; of the cases, <b>{escape(held)}</b> missing from every number above until the row is "
        "corrected. Run <code>kontaktsync plan</code> to see each row.</li>",
        f"<li><b>{_n(nc.unmatched, 'case')}</b> covered by no rule of the policy (unmatched), "
        "so without any obligation.</li>",
        f"<li><b>{_n(nc.without_contact_rule, 'case')}</b> in all without a recurring contact obligation "
        "(unmatched ones included): the density share leaves them out.</li></ul>",
    ]
    if nc.errors_by_column:
        rows = [
            [(f"{file}, column {col}", False), (str(n), False)]
            for (file, col), n in nc.errors_by_column.items()
        ]
        lines.append(_table("Errors by file and column", ["", "errors"], rows))
    lines.append("</section>")
    return "".join(lines)


def _counsellors(f: Figures) -> str:
    people, name = f.counsellors or [], str
    return (
        "<section><h2>Per counsellor</h2>"
        '<p class="note">Shown because the per-counsellor breakdown was switched on explicitly '
        "(a performance record of employees: it needs the staff council's agreement).</p>"
        + compliance_chart(people, f.quota, "chart-counsellor-density", label=name)
        + compliance_table(people, f.quota, "Contact density kept per counsellor", label=name)
        + overdue_table(people, "Overdue obligations per counsellor", label=name)
        + load_table(people, f.weeks, "Obligations due per week per counsellor", label=name)
        + "</section>"
    )


def _proposals(p: Outlook) -> str:
    """Slot mode: proposed appointments per week against the capacity, all teams."""
    rows = "".join(
        f'<tr><th scope="row">{escape(week)}</th><td>{n}</td><td>{c}</td>'
        f"<td>{'full' if p.full(n, c) else ''}</td></tr>"
        for week, (n, c) in p.weeks().items()
    )
    return (
        "<section><h2>Proposed appointments</h2>"
        f"<p>{p.placed} proposed (calendars read, nothing written), {p.late} after their due date, "
        f"{len(p.unplaced)} talks without a place before the horizon.</p>"
        "<table><caption>Proposed appointments per calendar week against capacity</caption>"
        '<thead><tr><th scope="col">week</th><th scope="col">proposals</th>'
        '<th scope="col">capacity</th><th scope="col"></th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )


def render_html(f: Figures) -> str:
    """The whole report page."""
    groups = [f.total, *f.teams]
    weeks = f"{_kw(f.weeks[0])}–{_kw(f.weeks[-1])}" if f.weeks else ""
    title = f"Kontaktdichte: team report {f.as_of:%d.%m.%Y}"
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">Policy {escape(f.policy)} · as of {f.as_of:%A %d.%m.%Y} ({_kw(f.as_of)}) · '
        f"{f.cases_in_export} cases in the export, {f.total.cases} counted · per team"
        f"{' and per counsellor' if f.counsellors is not None else ''}</p>",
        _cards(f),
        "<section><h2>Contact density kept per team</h2><figure>",
        compliance_chart(groups, f.quota, "chart-density"),
        '<figcaption class="note">A case keeps the density when its recurring contact is not overdue; '
        "cases without a recurring contact are not counted. Red: below the target.</figcaption>",
        compliance_table(groups, f.quota, "Contact density kept per team"),
        "</figure></section>",
        "<section><h2>Overdue obligations by age</h2><figure>",
        overdue_chart(groups, "chart-overdue"),
        overdue_table(groups, "Overdue obligations per team, by days past due"),
        "</figure></section>",
        f"<section><h2>Load of the coming weeks ({weeks}) against capacity</h2><figure>",
        load_chart(f.total, "chart-load", "Obligations due per week, all teams, against capacity"),
        '<div class="grid">',
        *(
            load_chart(g, f"chart-load-{i}", team_label(g.name), small=True)
            for i, g in enumerate(f.teams, start=1)
        ),
        "</div>",
        f'<figcaption class="note">Every obligation counts as one talk; overdue ones count in the '
        f"current week. Capacity: {f.capacity_per_counsellor} talks per week and full-time counsellor, "
        "counsellors counted by their share of the team's cases. Red: above capacity.</figcaption>",
        load_table(groups, f.weeks, "Obligations due per calendar week against capacity"),
        "</figure></section>",
        _not_counted(f),
    ]
    if f.proposals is not None:
        parts.append(_proposals(f.proposals))
    if f.counsellors is not None:
        parts.append(_counsellors(f))
    parts.append(
        f'<p class="note">kontaktsync report · {escape(f.policy)} · {f.as_of.isoformat()} · '
        "no customer numbers or names in this file"
        f"{'' if f.counsellors is not None else ', no counsellor names'}.</p></main></body></html>\n"
    )
    return "".join(parts)
