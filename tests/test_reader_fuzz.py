"""Bad input is tried, not hoped for: random and malformed CSV never crashes the reader or the
engine; every input gives a plan with clear errors, or one clear SourceError."""

from __future__ import annotations

import csv
import tempfile
import unicodedata
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
    read = {c.case_id: c.counsellor for c in caseload.cases}
    # every case read is either planned or held for an error, never both, never lost
    assert set(result.cases) | (result.held & read.keys()) == read.keys()
    assert not set(result.cases) & result.held
    # what the plan shows belongs to a planned case, under that case's counsellor
    for o in doc["obligations"]:
        assert o["case_id"] in result.cases and o["counsellor"] == read[o["case_id"]]
    assert {u["case_id"] for u in doc["unmatched"]} <= set(result.cases)
    # the reader's row errors all reach the plan
    assert all(e.to_json() in doc["errors"] for e in caseload.errors)


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


# -- hostile values and bytes (caseload.md, Bad input) ---------------------------------------

_LOGIN_MARKS = "._-@+"


def _write_one_case(folder: Path, case_id: str, counsellor: str) -> Path:
    p = folder / "cases.csv"
    with p.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["case_id", "counsellor", "status", "profile"])
        w.writerow([case_id, counsellor, "lo", "I"])
        w.writerow(["other", "a", "lo", "I"])
    return p


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=300) | st.text(alphabet="./\\%@+-_ .\r\n\t\x00aä", max_size=12))
def test_a_counsellor_is_a_row_error_or_a_safe_login(value):
    with tempfile.TemporaryDirectory() as d:
        cl = read_caseload(_write_one_case(Path(d), "1", value))
    assert [c.case_id for c in cl.cases][-1] == "other"  # the other row is always read
    accepted = [c.counsellor for c in cl.cases if c.case_id == "1"]
    if not accepted:
        assert [(e.row, e.column) for e in cl.errors] == [(2, "counsellor")]
        assert cl.held == {"1"}
        return
    (login,) = accepted
    assert cl.errors == []
    assert login == unicodedata.normalize("NFC", value.strip())
    assert 1 <= len(login) <= 254 and not login.startswith(".") and ".." not in login
    for ch in login:
        assert ch not in "/\\%:;,"
        assert not ch.isspace() and unicodedata.category(ch)[0] not in "CZ"
        assert ch in _LOGIN_MARKS or unicodedata.category(ch)[0] in "LM" or unicodedata.category(ch) == "Nd"


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=80) | st.text(alphabet=";,:\"'\r\n\t\x00\u2028 1ä客", max_size=70))
def test_a_case_id_is_a_row_error_or_carried_without_control_characters(value):
    with tempfile.TemporaryDirectory() as d:
        cl = read_caseload(_write_one_case(Path(d), value, "a"))
    ids = [c.case_id for c in cl.cases]
    assert ids[-1] == "other"
    if len(ids) == 1 or value.strip() == "other":
        assert cl.errors and {(e.row, e.column) for e in cl.errors} <= {(2, "case_id"), (3, "case_id")}
        return
    assert cl.errors == [] and ids[0] == value.strip()
    assert len(ids[0]) <= 64
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for ch in ids[0])


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.binary(max_size=60), max_size=8),
    encoding=st.sampled_from(["auto", "utf-8", "cp1252"]),
    policy_id=st.sampled_from(BUILTIN_IDS),
)
def test_any_bytes_below_a_good_header_are_row_errors_never_a_stopped_run(rows, encoding, policy_id):
    data = b"case_id;counsellor;status;profile\n" + b"\n".join(rows)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "cases.csv"
        p.write_bytes(data)
        cl = read_caseload(p, encoding=encoding)  # never raises SourceError
    for e in cl.errors:
        assert e.file == "cases.csv" and e.row >= 2 and e.column and e.message
        assert "\x00" not in e.message and not any("\udc80" <= ch <= "\udcff" for ch in e.message)
    for case in cl.cases:
        assert not any("\udc80" <= ch <= "\udcff" or ch == "\x00" for ch in case.case_id + case.counsellor)
    plan(cl, load_policy(policy_id), date(2026, 11, 22))
