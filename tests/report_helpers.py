"""A small caseload for the report tests, with every kind of case the report must count or say it
cannot count: kept and overdue contacts in each age bucket, two teams, an unmatched case, a case
row in error (held) and a contacts row in error (its case is still planned).

Hand-computed under coburg-2016 on T = Monday 2026-11-23 (KW 48), 2-month contact interval for
adults (1 month in the team fallmanagement), due dates moved to the working day before:

| case   | counsellor | team           | last contact | due        | on T                    |
|--------|------------|----------------|--------------|------------|-------------------------|
| 900001 | ANNA       | standard       | 2026-09-20   | 2026-11-20 | overdue 3 days (1–7)    |
| 900002 | ANNA       | standard       | 2026-09-01   | 2026-10-30 | overdue 24 days (8–30)  |
| 900003 | ANNA       | standard       | 2026-10-01   | 2026-12-01 | KW 49                   |
| 900004 | BERND      | standard       | 2026-09-25   | 2026-11-25 | KW 48                   |
| 900005 | BERND      | standard       | (no birth date)  |        | unmatched               |
| 900006 | ANNA       | standard       | 2026-07-15   | 2026-09-15 | overdue 69 days (31–90) |
| 900007 | BERND      | fallmanagement | 2026-07-15   | 2026-08-14 | overdue 101 days (> 90) |
| 900008 | ANNA       | fallmanagement | 2026-11-10   | 2026-12-10 | KW 50                   |
| 900009 | ANNA       | standard       | bad profile  |            | row in error, held      |

contacts.csv row 2 (for 900003) has the date 31.02.2026: a row in error, 900003 is still planned.
"""

from __future__ import annotations

from pathlib import Path

from builders import write_caseload

T = "2026-11-23"
ANNA, BERND = "anna.kowalczyk", "bernd.oesterle"
CASE_IDS = [f"90000{i}" for i in range(1, 10)]
ADULT = {"birth_date": "1980-01-01"}


def report_cases() -> list[dict[str, str]]:
    return [
        {"case_id": "900001", "counsellor": ANNA, **ADULT, "last_contact": "2026-09-20"},
        {"case_id": "900002", "counsellor": ANNA, **ADULT, "last_contact": "2026-09-01"},
        {"case_id": "900003", "counsellor": ANNA, **ADULT, "last_contact": "2026-10-01"},
        {"case_id": "900004", "counsellor": BERND, **ADULT, "last_contact": "2026-09-25"},
        {"case_id": "900005", "counsellor": BERND, "birth_date": "", "last_contact": "2026-10-01"},
        {"case_id": "900006", "counsellor": ANNA, **ADULT, "last_contact": "2026-07-15"},
        {
            "case_id": "900007",
            "counsellor": BERND,
            **ADULT,
            "team": "fallmanagement",
            "last_contact": "2026-07-15",
        },
        {
            "case_id": "900008",
            "counsellor": ANNA,
            **ADULT,
            "team": "fallmanagement",
            "last_contact": "2026-11-10",
        },
        {"case_id": "900009", "counsellor": ANNA, **ADULT, "profile": "markt", "last_contact": "2026-10-01"},
    ]


BAD_CONTACT = {"case_id": "900003", "date": "31.02.2026", "channel": "persoenlich"}


def write_report_caseload(folder: Path) -> dict[str, Path]:
    """cases.csv and contacts.csv of the table above, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_caseload(folder, report_cases(), contacts=[BAD_CONTACT])
