"""The contract suite's caseload: a few cases per counsellor, as real CSV files, and the edits
an export goes through between runs (a case leaves, a contact is recorded, a row goes bad)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from tests.contract.worlds import COUNSELLORS

AS_OF = date(2026, 11, 22)
CASE_COLUMNS = ["case_id", "counsellor", "birth_date", "status", "profile", "registration_date",
                "last_contact", "display_name"]  # fmt: skip
CONTACT_COLUMNS = ["case_id", "date", "channel", "outcome"]
CASES_PER_COUNSELLOR = 4


@dataclass
class Caseload:
    """cases.csv and contacts.csv in `folder` (the `source` of `worlds.base_settings`)."""

    folder: Path

    def write(self, cases: list[dict[str, str]], contacts: list[dict[str, str]] | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _write(self.folder / "cases.csv", CASE_COLUMNS, cases)
        _write(self.folder / "contacts.csv", CONTACT_COLUMNS, contacts or [])

    def cases(self) -> list[dict[str, str]]:
        with (self.folder / "cases.csv").open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def contacts(self) -> list[dict[str, str]]:
        with (self.folder / "contacts.csv").open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def keep_only(self, case_ids: set[str]) -> None:
        """The export now holds only these cases (the others left, or it was cut short)."""
        self.write([r for r in self.cases() if r["case_id"] in case_ids], self.contacts())

    def set(self, case_id: str, **cells: str) -> None:
        self.write([r | cells if r["case_id"] == case_id else r for r in self.cases()], self.contacts())

    def contact_today(self, case_id: str) -> None:
        """A counting contact on the as-of day: the case's recurring-contact task is fulfilled."""
        row = {"case_id": case_id, "date": AS_OF.isoformat(), "channel": "persoenlich", "outcome": ""}
        self.write(self.cases(), [*self.contacts(), row])


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)


def initial_cases() -> list[dict[str, str]]:
    """Adults with a recent contact: each has one recurring-contact obligation (coburg-2016)."""
    return [
        {
            "case_id": str(200100 + i),
            "counsellor": COUNSELLORS[i % len(COUNSELLORS)],
            "birth_date": "1980-01-01",
            "status": "arbeitslos",
            "profile": "marktprofil",
            "registration_date": "2026-01-05",
            "last_contact": (AS_OF - timedelta(days=10 + i)).isoformat(),
            "display_name": f"Kundin Beispiel {i}",
        }
        for i in range(CASES_PER_COUNSELLOR * len(COUNSELLORS))
    ]
