"""Caseload input safety: which cases are held, and hostile counsellor and case_id values."""

from __future__ import annotations

import csv
from datetime import date

import pytest
from kontaktsync.rules.engine import plan
from kontaktsync.rules.policy import load_policy
from kontaktsync.sync.caseload import read_caseload
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.planning import make_plan
from openpyxl import Workbook

from tests.builders import CASE_DEFAULTS, write_csv

T = date(2026, 11, 23)


def _cases(tmp_path, rows: list[dict[str, str]]):
    """A cases.csv whose rows are filled with valid defaults (cells given win)."""
    return write_csv(tmp_path / "cases.csv", [{"case_id": "", **CASE_DEFAULTS, **r} for r in rows])


# -- held cases ------------------------------------------------------------------------------


def test_case_rows_left_out_for_an_error_are_held_and_nothing_else_is(tmp_path):
    cases = _cases(
        tmp_path,
        [
            {"case_id": "ok"},
            {"case_id": "bad-status", "status": "frei"},
            {"case_id": "bad-date", "birth_date": "1980-02-30"},
            {"case_id": "ok", "status": "asu"},  # duplicate: "ok" is planned from its first row
            {"case_id": "no-reason", "extension_months": "2"},
            {"case_id": "bad-counsellor", "counsellor": "../etc"},
            {"case_id": "with-bad-children"},
        ],
    )
    measures = write_csv(
        tmp_path / "measures.csv",
        [{"case_id": "with-bad-children", "start": "2026-07-01", "end": "2026-06-30"}],
    )
    contacts = write_csv(
        tmp_path / "contacts.csv",
        [{"case_id": "with-bad-children", "date": "2026-10-01", "channel": "brieftaube"}],
    )
    cl = read_caseload(cases, measures, contacts)
    assert [c.case_id for c in cl.cases] == ["ok", "with-bad-children"]
    assert cl.held == {"bad-status", "bad-date", "no-reason", "bad-counsellor"}
    assert cl.held_unknown is False
    result = plan(cl, load_policy("coburg-2016"), T)
    assert (result.held, result.held_unknown) == (cl.held, False)
    assert set(result.cases) == {"ok", "with-bad-children"}


def test_a_bad_row_without_a_readable_case_id_marks_the_plan(tmp_path):
    cases = _cases(tmp_path, [{"case_id": "1"}, {"case_id": "", "status": "frei"}, {"case_id": "a\tb"}])
    cl = read_caseload(cases)
    assert [(e.row, e.column) for e in cl.errors] == [(3, "case_id"), (3, "status"), (4, "case_id")]
    assert (cl.held, cl.held_unknown) == (set(), True)
    result = plan(cl, load_policy("coburg-2016"), T)
    assert (result.held, result.held_unknown) == (set(), True)


def test_a_case_whose_first_row_is_bad_is_planned_from_a_later_good_row_and_not_held(tmp_path):
    cl = read_caseload(_cases(tmp_path, [{"case_id": "7", "status": "frei"}, {"case_id": "7"}]))
    assert [c.case_id for c in cl.cases] == ["7"] and cl.held == set()


def test_engine_errors_hold_their_cases_too(tmp_path):
    cases = _cases(
        tmp_path,
        [
            {"case_id": "future", "last_contact": "2026-11-24"},
            {"case_id": "too-long", "extension_months": "1", "extension_reason": "Pflege"},
            {"case_id": "ok", "last_contact": "2026-11-23"},
        ],
    )
    cl = read_caseload(cases)
    assert cl.errors == [] and cl.held == set()
    result = plan(cl, load_policy("euskirchen-2011"), T)  # euskirchen allows no extension
    assert [(e.row, e.column) for e in result.errors] == [(2, "last_contact"), (3, "extension_months")]
    assert result.held == {"future", "too-long"}
    assert set(result.cases) == {"ok"}


# -- hostile counsellors and case ids --------------------------------------------------------

HOSTILE_COUNSELLORS = [
    "../admin",
    "a/b",
    "a\\b",
    "a..b",
    ".hidden",
    "m%2Fmueller",
    "m mueller",
    "a:b",
    "a;b",
    "a,b",
    "a\rb",
    "a\nb",
    "a\x07b",
    "a\u200bb",  # zero-width space
    "a\u037eb",  # Greek question mark: NFC makes it ';'
    "x" * 255,
    "ｍ／ｍ",  # full-width solidus
]


@pytest.mark.parametrize("value", HOSTILE_COUNSELLORS, ids=range(len(HOSTILE_COUNSELLORS)))
def test_a_counsellor_that_is_no_login_or_mail_address_is_a_row_error(tmp_path, value):
    cl = read_caseload(_cases(tmp_path, [{"case_id": "1", "counsellor": value}, {"case_id": "2"}]))
    assert [(e.row, e.column) for e in cl.errors] == [(2, "counsellor")]
    message = cl.errors[0].message
    assert "letters, digits and . _ - @ +" in message or "at most 254" in message
    assert not any(ch in message for ch in "\r\n\x07\u200b")  # never echoes a control character
    assert [c.case_id for c in cl.cases] == ["2"] and cl.held == {"1"}


@pytest.mark.parametrize(
    "value", ["m.mueller", "anna.schmidt@jobcenter-ge.de", "j.weiß", "user+tag@x.de", "ö_l-1", "x" * 254]
)
def test_logins_and_mail_addresses_are_carried_unchanged(tmp_path, value):
    cl = read_caseload(_cases(tmp_path, [{"case_id": "1", "counsellor": value}]))
    assert cl.errors == [] and cl.cases[0].counsellor == value


def test_a_decomposed_umlaut_is_read_as_the_composed_one(tmp_path):
    cl = read_caseload(_cases(tmp_path, [{"case_id": "1", "counsellor": "j.mu\u0308ller"}]))
    assert cl.cases[0].counsellor == "j.m\u00fcller"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("100\r\n234", "U+000D"),
        ("100\n234", "U+000A"),
        ("100\x00234", "NUL byte"),
        ("100\x1f234", "U+001F"),
        ("100\u2028234", "U+2028"),
        ("100\u202e234", "U+202E"),  # right-to-left override
        ("1" * 65, "65 characters"),
    ],
    ids=["crlf", "lf", "nul", "unit-separator", "line-separator", "rtl-override", "65-chars"],
)
def test_a_case_id_with_line_breaks_control_characters_or_65_characters_is_a_row_error(
    tmp_path, value, message
):
    cl = read_caseload(_cases(tmp_path, [{"case_id": value}, {"case_id": "2"}]))
    assert [(e.row, e.column) for e in cl.errors] == [(2, "case_id")]
    assert message in cl.errors[0].message
    assert [c.case_id for c in cl.cases] == ["2"] and cl.held_unknown is True


@pytest.mark.parametrize("value", ["100;234", "A,B:C", "Müller-Öztürk 7", "客户-42", "x" * 64, 'a"b'])
def test_other_case_ids_are_carried_as_they_are(tmp_path, value):
    p = tmp_path / "cases.csv"
    with p.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["case_id", "counsellor", "status", "profile"])
        w.writerow([value, "a", "lo", "I"])
    contacts = write_csv(
        tmp_path / "contacts.csv", [{"case_id": value, "date": "2026-10-01", "channel": "video"}]
    )
    cl = read_caseload(p, contacts=contacts)
    assert cl.errors == []
    (case,) = cl.cases
    assert case.case_id == value and len(case.contacts) == 1


# -- settings reach the reader ---------------------------------------------------------------


def test_make_plan_reads_with_the_encoding_and_sheets_of_the_settings(tmp_path):
    p = tmp_path / "cases.csv"
    p.write_bytes("case_id;counsellor;status;profile\r\n1;j.weiß;lo;I\r\n".encode("cp1252"))
    auto = make_plan(Settings(source={"cases": p}), T)
    assert [o.counsellor for o in auto.obligations] == ["j.weiß"]
    forced = make_plan(Settings(source={"cases": p, "encoding": "utf-8"}), T)
    assert forced.obligations == [] and [e.column for e in forced.errors] == ["counsellor"]

    wb = Workbook()
    wb.active.title = "Tabelle1"
    wb.active.append(["case_id", "counsellor", "status", "profile"])
    wb.active.append([5, "k.schmidt", "lo", "I"])
    wb.create_sheet("cases").append(["case_id"])  # a decoy: the settings name Tabelle1
    xlsx = tmp_path / "export.xlsx"
    wb.save(xlsx)
    named = make_plan(Settings(source={"cases": xlsx, "sheets": {"cases": "Tabelle1"}}), T)
    assert [(o.case_id, o.counsellor) for o in named.obligations] == [("5", "k.schmidt")]
