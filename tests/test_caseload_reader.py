"""Reading caseloads: separators, BOM, German dates and booleans, Excel, header mapping, bad rows."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from kontaktsync.rules.model import Channel, Outcome, Profile, Status, Team
from kontaktsync.sync.caseload import SourceError, read_caseload
from kontaktsync.sync.caseload.converters import to_case_id
from openpyxl import Workbook

from tests.builders import write_csv


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
        (b"\x00\x01case_id;counsellor\n1;a\n", "binary"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
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


# -- encodings and unreadable bytes (caseload.md, Encoding) ---------------------------------

HEADER = "case_id;counsellor;status;profile;display_name"


def _write_lines(path, lines: list[bytes]) -> object:
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    return path


def test_german_excel_csv_in_windows_1252_is_read_with_its_umlauts(tmp_path):
    # what German Excel writes as "CSV (Trennzeichen-getrennt)": semicolons, cp1252, CRLF
    text = (
        "Kundennummer;Vermittler;status;Profillage;display_name;registration_date\r\n"
        "100234;j.weiß;lo;Förderprofil;Jürgen Größe;01.10.2026\r\n"
        "100235;ä.öster;ASU;Unterstützungsprofil;Zoë – „Ärger“ € 5;\r\n"
    )
    p = tmp_path / "cases.csv"
    p.write_bytes(text.encode("cp1252"))
    hm = {"Kundennummer": "case_id", "Vermittler": "counsellor", "Profillage": "profile"}
    for encoding in ("auto", "cp1252"):
        cl = read_caseload(p, header_map=hm, encoding=encoding)
        assert cl.errors == []
        a, b = cl.cases
        assert (a.counsellor, a.profile, a.display_name) == ("j.weiß", Profile.FOERDERPROFIL, "Jürgen Größe")
        assert (b.counsellor, b.profile, b.display_name) == (
            "ä.öster",
            Profile.UNTERSTUETZUNGSPROFIL,
            "Zoë – „Ärger“ € 5",
        )
    # forced to UTF-8, each umlaut byte is a row error of its own row and column
    cl = read_caseload(p, header_map=hm, encoding="utf-8")
    assert cl.cases == []
    assert ("cases.csv", 2, "counsellor") in [(e.file, e.row, e.column) for e in cl.errors]
    assert "0xDF" in cl.errors[0].message and "UTF-8" in cl.errors[0].message


def test_utf8_wins_when_the_file_is_valid_utf8_with_or_without_bom(tmp_path):
    for bom in (b"", b"\xef\xbb\xbf"):
        p = _write_lines(
            tmp_path / "cases.csv", [bom + HEADER.encode(), "1;m.müller;lo;Förderprofil;Ärger".encode()]
        )
        (case,) = read_caseload(p).cases
        assert (case.counsellor, case.display_name) == ("m.müller", "Ärger")


@pytest.mark.parametrize(
    ("bad_row", "column", "message"),
    [
        (b"2;a;lo;marktprofil;Nul\x00Byte", "display_name", "NUL byte"),
        (b"2;a;lo;marktprofil;J\xfcrgen", "display_name", "byte 0xFC"),  # cp1252 in a UTF-8 file
        (b"2;a;lo;marktprofil;" + b"x" * 200_000, "display_name", "200000 characters"),
        (b'2;a;lo;marktprofil;"' + b"y" * 20_000 + b'"', "display_name", "20000 characters"),
        (b"2;a\x00;lo;marktprofil;", "counsellor", "NUL byte"),
    ],
    ids=["nul", "undecodable", "oversized", "oversized-quoted", "nul-in-counsellor"],
)
def test_one_unreadable_row_is_one_row_error_and_the_rest_is_read(tmp_path, bad_row, column, message):
    lines = [HEADER.encode(), "1;m.müller;lo;Förderprofil;".encode(), bad_row, b"3;a;lo;I;", b"4;a;asu;Z;"]
    cl = read_caseload(_write_lines(tmp_path / "cases.csv", lines))
    assert [(e.file, e.row, e.column) for e in cl.errors] == [("cases.csv", 3, column)]
    assert message in cl.errors[0].message
    assert [c.case_id for c in cl.cases] == ["1", "3", "4"]
    assert cl.cases[0].counsellor == "m.müller"  # the rest of the file stays UTF-8
    assert (cl.held, cl.held_unknown) == ({"2"}, False)


def test_a_byte_undefined_in_windows_1252_is_a_row_error_of_its_row(tmp_path):
    lines = [
        HEADER.encode(),
        "1;j.weiß;lo;Förderprofil;Jürgen".encode("cp1252"),
        b"2;a;lo;I;\x81",
        b"3;a;lo;I;",
    ]
    cl = read_caseload(_write_lines(tmp_path / "cases.csv", lines))
    assert [(e.row, e.column) for e in cl.errors] == [(3, "display_name")]
    assert "0x81" in cl.errors[0].message and "Windows-1252" in cl.errors[0].message
    assert [(c.case_id, c.counsellor, c.display_name) for c in cl.cases] == [
        ("1", "j.weiß", "Jürgen"),
        ("3", "a", None),
    ]


def test_an_unreadable_case_id_holds_no_case_by_name_but_marks_the_caseload(tmp_path):
    lines = [HEADER.encode(), b"1;a;lo;I;", b"\x81;a;lo;I;", b"3;a;lo;I;"]
    cl = read_caseload(_write_lines(tmp_path / "cases.csv", lines), encoding="utf-8")
    assert [(e.row, e.column) for e in cl.errors] == [(3, "case_id")]
    assert "0x81" in cl.errors[0].message
    assert [c.case_id for c in cl.cases] == ["1", "3"]
    assert (cl.held, cl.held_unknown) == (set(), True)


def test_unreadable_bytes_in_a_column_the_reader_ignores_do_not_matter(tmp_path):
    lines = [b"case_id;counsellor;status;profile;Bemerkung", b"1;a;lo;I;kaputt\x00\x81"]
    cl = read_caseload(_write_lines(tmp_path / "cases.csv", lines))
    assert cl.errors == [] and [c.case_id for c in cl.cases] == ["1"]


def test_bad_bytes_in_measures_and_contacts_leave_out_only_their_row(tmp_path):
    cases = _write_lines(tmp_path / "cases.csv", [HEADER.encode(), b"1;a;lo;I;"])
    contacts = _write_lines(
        tmp_path / "contacts.csv",
        [b"case_id,date,channel", b"1,2026-10-01,persoenlich", b"1,2026-10-0\x00,persoenlich"],
    )
    measures = _write_lines(
        tmp_path / "measures.csv", [b"case_id,start,end,kind", b"1,2026-01-01,2026-06-30,F\x81bW"]
    )
    cl = read_caseload(cases, measures, contacts, encoding="utf-8")
    assert [(e.file, e.row, e.column) for e in cl.errors] == [
        ("measures.csv", 2, "kind"),
        ("contacts.csv", 3, "date"),
    ]
    (case,) = cl.cases
    assert [c.date for c in case.contacts] == [date(2026, 10, 1)] and case.measures == ()
    assert (cl.held, cl.held_unknown) == (set(), False)


def test_an_unknown_encoding_is_refused(tmp_path):
    p = _write_lines(tmp_path / "cases.csv", [HEADER.encode(), b"1;a;lo;I;"])
    with pytest.raises(SourceError, match="unknown encoding 'latin-9'"):
        read_caseload(p, encoding="latin-9")


# -- workbook sheets by name (source.sheets) -------------------------------------------------


def _workbook(path, sheets: dict[str, list[list[object]]]):
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def test_sheets_are_picked_by_the_names_the_settings_give(tmp_path):
    p = _workbook(
        tmp_path / "export.xlsx",
        {
            "Tabelle1": [["case_id", "counsellor", "status", "profile"], [7, "k.schmidt", "lo", "I"]],
            "cases": [["case_id", "counsellor", "status", "profile"], [8, "wrong.sheet", "lo", "I"]],
            "Gespräche": [["case_id", "date", "channel"], [7, date(2026, 10, 1), "video"]],
        },
    )
    cl = read_caseload(p, sheets={"cases": "Tabelle1", "contacts": "gespräche"})
    (case,) = cl.cases
    assert (case.case_id, case.counsellor) == ("7", "k.schmidt")
    assert [c.date for c in case.contacts] == [date(2026, 10, 1)]
    assert cl.files == {"cases": "export.xlsx:Tabelle1", "contacts": "export.xlsx:Gespräche"}


def test_a_named_sheet_that_is_missing_stops_the_run_naming_the_sheets_there_are(tmp_path):
    p = _workbook(tmp_path / "export.xlsx", {"Tabelle1": [["case_id"], [1]], "Tabelle2": [["x"]]})
    with pytest.raises(SourceError) as info:
        read_caseload(p, sheets={"cases": "Tabelle1", "measures": "Maßnahmen"})
    text = str(info.value)
    assert "export.xlsx" in text and "'Maßnahmen'" in text and "'Tabelle1', 'Tabelle2'" in text
    with pytest.raises(SourceError, match="'case', which is no table"):
        read_caseload(p, sheets={"case": "Tabelle1"})


def test_an_oversized_workbook_cell_is_a_row_error(tmp_path):
    p = _workbook(
        tmp_path / "cases.xlsx",
        {
            "cases": [
                ["case_id", "counsellor", "status", "profile", "display_name"],
                [1, "a", "lo", "I", "z" * 10_001],
            ]
        },
    )
    cl = read_caseload(p)
    assert [(e.row, e.column) for e in cl.errors] == [(2, "display_name")] and cl.held == {"1"}


def test_a_case_id_may_hold_any_character_but_a_control_or_format_one() -> None:
    """Every code point, inside a plain id and at its end: refused exactly where its Unicode
    category is a control, format, surrogate or line/paragraph separator one."""
    refused = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    for c in range(0x110000):
        ch = chr(c)
        # white space at the end is stripped, as around any cell
        for text in (f"A{ch}B",) if ch.isspace() else (f"A{ch}B", f"A{ch}"):
            try:
                ok = to_case_id(text) == text
            except ValueError:
                ok = False
            assert ok is (unicodedata.category(ch) not in refused), (hex(c), text)
