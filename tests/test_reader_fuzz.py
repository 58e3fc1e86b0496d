"""Bad input is tried, not hoped for: random and malformed CSV never crashes the reader or the
engine; every input gives a plan with clear errors, or one clear SourceError."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kontaktsync.rules.engine import plan
from kontaktsync.rules.policy import BUILTIN_IDS, load_policy
from kontaktsync.sync.caseload import SourceError, read_caseload

COLUMNS = [
    "case_id",
    "counsellor",
    "status",
    "profile",
    "team",
    "birth_date",
    "registration_date",
    "last_contact",
    "non_activation_end",
    "profile_since",
    "buergerarbeit",
    "umschueler",
    "individual_interval",
    "extension_months",
    "extension_reason",
    "care_plan_created",
    "care_plan_valid_until",
    "needs_interpreter",
    "display_name",
    "Unbekannt",
]
CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "lo",
            "asu",
            "ohne",
            "arbeitslos",
            "marktprofil",
            "Z",
            "I",
            "förderprofil",
            "reha",
            "fallmanagement",
            "ja",
            "nein",
            "x",
            "1",
            "0",
            "2M",
            "6W",
            "14D",
            "0M",
            "-3M",
            "7",
            "2026-02-29",
            "2024-02-29",
            "31.12.2026",
            "1.1.2000",
            "2026-13-01",
            "9999-12-31",
            "0001-01-01",
            '"',
            ";",
            ",",
            "\n",
            "  ",
            "ü",
            "\u200b",
        ]
    ),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(lambda d: d.isoformat()),
    st.text(max_size=12),
)
DATES = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(lambda d: d.isoformat())
PLAUSIBLE = {
    "status": st.sampled_from(["lo", "asu", "ohne", "arbeitslos", "arbeitsuchend", "ohne_status"]),
    "profile": st.sampled_from(
        [
            "marktprofil",
            "Z",
            "I",
            "förderprofil",
            "marktnah",
            "nicht_marktnah",
            "Entwicklungsprofil",
            "stabilisierungsprofil",
        ]
    ),
    "team": st.sampled_from(["", "standard", "fallmanagement", "50plus", "bjo", "reha", "selbststaendige"]),
    "individual_interval": st.sampled_from(["", "1M", "6W", "14D", "120M", "9999M", "0D"]),
    "extension_months": st.sampled_from(["", "1", "6", "7", "0", "2.5"]),
}
ROWS = st.lists(st.lists(CELLS, min_size=0, max_size=len(COLUMNS) + 2), max_size=12)


@st.composite
def plausible_rows(draw, header):
    """Rows that mostly read: each column draws from values of its own kind, sometimes garbage."""
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        row = []
        for col in header:
            if col.endswith("date") or col in {
                "last_contact",
                "non_activation_end",
                "profile_since",
                "care_plan_created",
                "care_plan_valid_until",
            }:
                strat = st.one_of(st.just(""), DATES, DATES, CELLS)
            elif col in PLAUSIBLE:
                strat = st.one_of(PLAUSIBLE[col], CELLS)
            elif col in {"buergerarbeit", "umschueler", "needs_interpreter"}:
                strat = st.sampled_from(["", "ja", "x", "0", "vielleicht"])
            elif col == "case_id":
                strat = st.one_of(st.integers(1, 9).map(str), CELLS)
            else:
                strat = st.one_of(st.text(min_size=1, max_size=6), CELLS)
            row.append(draw(strat))
        rows.append(row)
    return rows


def _check(folder: Path, data: bytes, policy_id: str) -> None:
    p = folder / "cases.csv"
    p.write_bytes(data)
    try:
        caseload = read_caseload(p)
    except SourceError as exc:
        assert "cases.csv" in str(exc)
        return
    for e in caseload.errors:
        assert e.file == "cases.csv" and e.row >= 2 and e.column and e.message
    result = plan(caseload, load_policy(policy_id), date(2026, 11, 22))
    doc = result.to_json()
    assert len(doc["obligations"]) >= 0
    planned = {o["case_id"] for o in doc["obligations"]} | {u["case_id"] for u in doc["unmatched"]}
    assert planned <= {c.case_id for c in caseload.cases}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=len(COLUMNS), unique=True),
    rows=ROWS,
    data=st.data(),
    sep=st.sampled_from([",", ";"]),
    bom=st.booleans(),
    policy_id=st.sampled_from(BUILTIN_IDS),
)
def test_structured_garbage_gives_a_plan_or_clear_errors(header, rows, data, sep, bom, policy_id):
    required = ["case_id", "counsellor", "status", "profile"]
    if data.draw(st.booleans()):
        header = required + [h for h in header if h not in required]
    rows = rows + data.draw(plausible_rows(header))

    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(ch in v for ch in '",;\n\r') else v

    lines = [sep.join(header)] + [sep.join(cell(v) for v in row) for row in rows]
    raw = ("\ufeff" if bom else "").encode() + "\n".join(lines).encode("utf-8")
    with tempfile.TemporaryDirectory() as d:
        _check(Path(d), raw, policy_id)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400), policy_id=st.sampled_from(BUILTIN_IDS))
def test_arbitrary_bytes_never_crash(data, policy_id):
    with tempfile.TemporaryDirectory() as d:
        _check(Path(d), b"case_id,counsellor,status,profile\n" + data, policy_id)
        _check(Path(d), data, policy_id)
