"""Reading caseloads: separators, BOM, German dates and booleans, Excel, header mapping, bad rows."""

from __future__ import annotations

from datetime import date

import pytest
from builders import write_csv
from kontaktsync.rules.model import Channel, Outcome, Profile, Status, Team
from kontaktsync.sync.caseload import SourceError, read_caseload
from openpyxl import Workbook


def test_semicolons_bom_german_dates_and_booleans(tmp_path):
    p = tmp_path / "cases.csv"
    p.write_text(
        "\ufeffcase_id;counsellor;status;profile;birth_date;buergerarbeit;umschueler;needs_interpreter;team\n"
        "100234;m.mueller;lo;Förderprofil;05.03.1980;ja;x;nein;\n"
        "100235;m.mueller;ASU;Nicht_Marktnah;1980-03-05;1;;0;50plus\n",
        encoding="utf-8",
    )
    cl = read_caseload(p)
    assert cl.errors == []
    a, b = cl.cases
    assert (a.case_id, a.status, a.profile, a.birth_date) == (
        "100234",
        Status.ARBEITSLOS,
        Profile.FOERDERPROFIL,
        date(1980, 3, 5),
    )
    assert (a.buergerarbeit, a.umschueler, a.needs_interpreter, a.team) == (True, True, False, Team.STANDARD)
    assert (b.status, b.profile, b.buergerarbeit, b.team) == (
        Status.ARBEITSUCHEND,
        Profile.NICHT_MARKTNAH,
        True,
        Team.PLUS50,
    )


def test_every_bad_row_is_reported_with_file_row_column_and_the_rest_is_read(tmp_path):
    cases = write_csv(
        tmp_path / "cases.csv",
        [
            {
                "case_id": "1",
                "counsellor": "a",
                "status": "lo",
                "profile": "marktprofil",
                "birth_date": "1980-01-01",
            },
            {
                "case_id": "2",
                "counsellor": "a",
                "status": "lo",
                "profile": "markt",
                "birth_date": "1980-01-01",
            },
            {"case_id": "3", "counsellor": "", "status": "lo", "profile": "I", "birth_date": "1980-01-01"},
            {"case_id": "4", "counsellor": "a", "status": "frei", "profile": "I", "birth_date": "1980-02-30"},
            {"case_id": "1", "counsellor": "b", "status": "lo", "profile": "I", "birth_date": "1980-01-01"},
            {"case_id": "5", "counsellor": "a", "status": "lo", "profile": "Z", "birth_date": "kein Datum"},
            {"case_id": "6", "counsellor": "a", "status": "lo", "profile": "Z", "birth_date": ""},
        ],
    )
    measures = write_csv(
        tmp_path / "measures.csv",
        [
            {"case_id": "1", "start": "2026-01-01", "end": "2026-06-30"},
            {"case_id": "99", "start": "2026-01-01", "end": "2026-06-30"},
            {"case_id": "6", "start": "2026-07-01", "end": "2026-06-30"},
            {
                "case_id": "2",
                "start": "2026-01-01",
                "end": "2026-06-30",
            },  # case 2 was left out: no second error
        ],
    )
    contacts = write_csv(
        tmp_path / "contacts.csv",
        [
            {"case_id": "6", "date": "2026-01-01", "channel": "brieftaube"},
            {"case_id": "6", "date": "2026-01-02", "channel": "persönlich", "outcome": "abgesagt"},
        ],
    )
    cl = read_caseload(cases, measures, contacts)
    got = [(e.file, e.row, e.column) for e in cl.errors]
    assert got == [
        ("cases.csv", 3, "profile"),
        ("cases.csv", 4, "counsellor"),
        ("cases.csv", 5, "birth_date"),
        ("cases.csv", 5, "status"),
        ("cases.csv", 6, "case_id"),
        ("cases.csv", 7, "birth_date"),
        ("measures.csv", 3, "case_id"),
        ("measures.csv", 4, "end"),
        ("contacts.csv", 2, "channel"),
    ]
    messages = {(e.row, e.column): e.message for e in cl.errors}
    assert messages[(3, "profile")] == "unknown profile 'markt'"
    assert "exist" in messages[(5, "birth_date")]
    assert "first in row 2" in messages[(6, "case_id")]
    assert [c.case_id for c in cl.cases] == ["1", "6"]
    six = cl.cases[1]
    assert six.birth_date is None and six.measures == ()
    assert [(c.channel, c.outcome) for c in six.contacts] == [(Channel.PERSOENLICH, Outcome.ABGESAGT)]
    assert len(cl.cases[0].measures) == 1


def test_header_mapping_lets_an_export_be_read_unchanged(tmp_path):
    p = write_csv(
        tmp_path / "export.csv",
        [
            {
                "Kundennummer": "7",
                "Vermittler": "k.schmidt",
                "Status": "lo",
                "Profillage": "Marktprofil",
                "Geburtsdatum": "01.02.1990",
                "Bemerkung": "ignored",
            },
        ],
        delimiter=";",
    )
    cl = read_caseload(
        p,
        header_map={
            "Kundennummer": "case_id",
            "Vermittler": "counsellor",
            "Profillage": "profile",
            "Geburtsdatum": "birth_date",
        },
    )
    assert cl.errors == []
    assert (cl.cases[0].case_id, cl.cases[0].counsellor, cl.cases[0].birth_date) == (
        "7",
        "k.schmidt",
        date(1990, 2, 1),
    )


def test_excel_workbook_with_three_sheets(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "cases"
    ws.append(["case_id", "counsellor", "status", "profile", "birth_date", "last_contact", "umschueler"])
    ws.append([100234, "m.mueller", "arbeitslos", "marktprofil", date(1980, 1, 1), "2026-10-01", True])
    ws.append([100235, "m.mueller", "arbeitslos", "quatsch", date(1980, 1, 1), None, None])
    ms = wb.create_sheet("measures")
    ms.append(["case_id", "start", "end", "qualifying"])
    ms.append([100234, date(2026, 1, 1), "30.06.2026", 1])
    cs = wb.create_sheet("contacts")
    cs.append(["case_id", "date", "channel"])
    cs.append([100234, date(2026, 11, 2), "persoenlich"])
    path = tmp_path / "caseload.xlsx"
    wb.save(path)
    cl = read_caseload(path)
    assert [(e.file, e.row, e.column) for e in cl.errors] == [("caseload.xlsx:cases", 3, "profile")]
    (case,) = cl.cases
    assert case.case_id == "100234" and case.umschueler is True and case.last_contact == date(2026, 10, 1)
    assert case.measures[0].end == date(2026, 6, 30) and case.measures[0].qualifying
    assert case.contacts[0].date == date(2026, 11, 2)


def test_a_folder_with_the_three_tables(tmp_path):
    write_csv(tmp_path / "cases.csv", [{"case_id": "1", "counsellor": "a", "status": "lo", "profile": "I"}])
    write_csv(tmp_path / "contacts.csv", [{"case_id": "1", "date": "2026-01-01", "channel": "video"}])
    cl = read_caseload(tmp_path)
    assert cl.cases[0].contacts[0].channel is Channel.VIDEO


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "file not found"),
        (b"", "no header row"),
        (b"name,counsellor\nx,y\n", "no case_id column"),
        (b"\xff\xfe\x00c\x00a\x00s\x00e", "not a UTF-8"),
        (b"case_id;counsellor\n\x00\x01", "binary"),
    ],
)
def test_unreadable_files_stop_the_run_with_a_clear_message(tmp_path, content, expected):
    p = tmp_path / "cases.csv"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(SourceError, match=expected) as info:
        read_caseload(p)
    assert "cases.csv" in str(info.value)


def test_broken_workbook_and_missing_sheet(tmp_path):
    p = tmp_path / "cases.xlsx"
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SourceError, match=r"not a readable \.xlsx"):
        read_caseload(p)
    wb = Workbook()
    wb.active.title = "Tabelle1"
    wb.create_sheet("Tabelle2")
    wb.save(p)
    with pytest.raises(SourceError, match="no sheet named 'cases'"):
        read_caseload(p)


def test_dates_far_outside_any_caseload_are_row_errors_not_crashes(tmp_path):
    from kontaktsync.rules.engine import plan
    from kontaktsync.rules.policy import load_policy

    p = write_csv(
        tmp_path / "cases.csv",
        [
            {
                "case_id": "1",
                "counsellor": "a",
                "status": "lo",
                "profile": "I",
                "registration_date": "9999-12-01",
            },
            {
                "case_id": "2",
                "counsellor": "a",
                "status": "lo",
                "profile": "Z",
                "non_activation_end": "0001-02-01",
            },
            {
                "case_id": "3",
                "counsellor": "a",
                "status": "lo",
                "profile": "I",
                "individual_interval": "9999M",
            },
            {
                "case_id": "4",
                "counsellor": "a",
                "status": "lo",
                "profile": "I",
                "registration_date": "2199-12-31",
            },
        ],
    )
    cl = read_caseload(p)
    assert [(e.row, e.column) for e in cl.errors] == [
        (2, "registration_date"),
        (3, "non_activation_end"),
        (4, "individual_interval"),
    ]
    assert "mistyped" in cl.errors[0].message
    for pid in ("coburg-2016", "euskirchen-2011", "berlin-lichtenberg-2013", "ams-betreuungsplan"):
        plan(cl, load_policy(pid), date(2026, 11, 22))  # the latest accepted date still computes
