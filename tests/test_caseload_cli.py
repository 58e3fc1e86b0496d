"""`kontaktsync plan` as a user runs it, on a German Excel export with broken rows."""

from __future__ import annotations

import json

from tests.cli import kontaktsync_cli

AS_OF = "2026-11-23"


def _excel_export(folder):
    """A cp1252 CSV as German Excel writes it, with one row of each kind of unreadable bytes."""
    lines = [
        "case_id;counsellor;status;profile;birth_date;last_contact;display_name".encode("cp1252"),
        "1;j.weiß;lo;Förderprofil;05.05.1980;01.10.2026;Jürgen Größe".encode("cp1252"),
        b"2;a.b;lo;marktprofil;05.05.1980;01.10.2026;Nul\x00Byte",
        b"3;a.b;lo;marktprofil;05.05.1980;01.10.2026;undefiniert \x81",
        b"4;a.b;lo;marktprofil;05.05.1980;01.10.2026;" + b"x" * 200_000,
        b"5;../x;lo;marktprofil;05.05.1980;01.10.2026;",
        b"6;a.b;lo;marktprofil;05.05.1980;01.12.2026;",
        b"7;a.b;lo;marktprofil;05.05.1980;01.10.2026;",
    ]
    p = folder / "cases.csv"
    p.write_bytes(b"\r\n".join(lines) + b"\r\n")
    return p


def _plan(cases, *extra: str) -> tuple[int, dict | None, str]:
    run = kontaktsync_cli(
        "plan", "--policy", "coburg-2016", "--cases", str(cases), "--as-of", AS_OF, "--format", "json", *extra
    )
    return run.returncode, json.loads(run.stdout) if run.returncode == 0 else None, run.stderr


def test_plan_json_reads_a_cp1252_export_and_reports_each_broken_row(tmp_path):
    code, doc, stderr = _plan(_excel_export(tmp_path))
    assert code == 0, stderr
    assert {(o["case_id"], o["counsellor"]) for o in doc["obligations"]} == {("1", "j.weiß"), ("7", "a.b")}
    # 2026-10-01 + 2M = 2026-12-01 (Tuesday)
    assert {o["due"] for o in doc["obligations"]} == {"2026-12-01"}
    errors = [(e["file"], e["row"], e["column"]) for e in doc["errors"]]
    assert errors == [
        ("cases.csv", 3, "display_name"),
        ("cases.csv", 4, "display_name"),
        ("cases.csv", 5, "display_name"),
        ("cases.csv", 6, "counsellor"),
        ("cases.csv", 7, "last_contact"),
    ]
    messages = [e["message"] for e in doc["errors"]]
    assert "NUL byte" in messages[0]
    assert "0x81" in messages[1] and "Windows-1252" in messages[1]
    assert "200000 characters" in messages[2]
    assert "letters, digits" in messages[3]
    assert "2026-12-01" in messages[4] and "left out" in messages[4]


def test_plan_encoding_option_fixes_the_encoding(tmp_path):
    cases = _excel_export(tmp_path)
    code, doc, stderr = _plan(cases, "--encoding", "utf-8")
    assert code == 0, stderr
    assert [o["case_id"] for o in doc["obligations"]] == ["7"]
    row2 = [e for e in doc["errors"] if e["row"] == 2]
    assert {e["column"] for e in row2} == {"counsellor", "profile", "display_name"}
    assert all("not UTF-8 text" in e["message"] for e in row2)
    code, doc, stderr = _plan(cases, "--encoding", "cp1252")
    assert code == 0, stderr
    assert ("1", "j.weiß") in {(o["case_id"], o["counsellor"]) for o in doc["obligations"]}
    code, _, stderr = _plan(cases, "--encoding", "latin-9")
    assert code == 2 and "--encoding" in stderr and "latin-9" in stderr
