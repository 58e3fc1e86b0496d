"""Building test inputs: caseloads as real CSV files, and plans built in memory.

- `write_caseload` / `write_csv`: small hand-made caseloads (cases filled with defaults);
- `caseload`: the example caseload (sync/examples), optionally filtered, with `AS_OF`;
- `case_rows` / `write_cases`: `n` generated cases for the service tests (coburg-2016);
- `plan_rows` / `only`: plan a small caseload through the reader and the engine;
- `obligation` / `plan_of` / `settings`: plans and settings without any file.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from kontaktsync.rules.engine import plan
from kontaktsync.rules.model import CaseFacts, Obligation, ObligationKind, Plan
from kontaktsync.rules.policy import load_policy
from kontaktsync.sync.caseload import read_caseload
from kontaktsync.sync.config.models import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "sync" / "examples"
AS_OF = date(2026, 11, 22)  # the as-of date the example caseload is written for
CASE_DEFAULTS = {"counsellor": "m.mueller", "status": "arbeitslos", "profile": "marktprofil"}


# ------------------------------------------------------------------------------ CSV caseloads


def write_csv(path: Path, rows: list[dict[str, Any]], delimiter: str = ",", bom: bool = False) -> Path:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


def write_caseload(
    folder: Path,
    cases: list[dict[str, Any]],
    measures: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
) -> dict[str, Path]:
    """Write cases (filled with defaults), measures and contacts; return their paths."""
    full = [{"case_id": str(i + 1), **CASE_DEFAULTS, **c} for i, c in enumerate(cases)]
    paths = {"cases": write_csv(folder / "cases.csv", full)}
    if measures:
        paths["measures"] = write_csv(folder / "measures.csv", measures)
    if contacts:
        paths["contacts"] = write_csv(folder / "contacts.csv", contacts)
    return paths


def caseload(
    folder: Path,
    keep: Callable[[dict[str, str]], bool] | None = None,
    extra_contacts: Iterable[dict[str, str]] = (),
) -> Path:
    """Copy the example caseload into `folder`, keeping the cases `keep` accepts."""
    folder.mkdir(parents=True, exist_ok=True)
    with (EXAMPLES / "cases.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = [r for r in reader if keep is None or keep(r)]
    with (folder / "cases.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)
    shutil.copy(EXAMPLES / "measures.csv", folder / "measures.csv")
    shutil.copy(EXAMPLES / "contacts.csv", folder / "contacts.csv")
    extra = list(extra_contacts)
    if extra:
        with (folder / "contacts.csv").open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, ["case_id", "date", "channel", "outcome"])
            writer.writerows(extra)
    return folder


def example_case_ids() -> list[str]:
    with (EXAMPLES / "cases.csv").open(newline="", encoding="utf-8") as fh:
        return [r["case_id"] for r in csv.DictReader(fh)]


CASE_COLUMNS = ["case_id", "counsellor", "birth_date", "status", "profile", "registration_date",
                "last_contact", "display_name"]  # fmt: skip
PROFILES = ["marktprofil", "foerderprofil", "entwicklungsprofil", "aktivierungsprofil"]


def case_rows(
    n: int, counsellors: Iterable[str] = ("anna", "bernd"), start: int = 300000
) -> list[dict[str, str]]:
    """`n` cases that each get one contact obligation under coburg-2016 (adults, with contacts)."""
    who = list(counsellors)
    return [
        {
            "case_id": str(start + i),
            "counsellor": who[i % len(who)],
            "birth_date": "1980-01-01",
            "status": "arbeitslos" if i % 3 else "arbeitsuchend",
            "profile": PROFILES[i % len(PROFILES)],
            "registration_date": "2026-01-05",
            # before today whenever the tests run: a contact after the as-of date is a row error
            "last_contact": (date.today() - timedelta(days=5 + i % 80)).isoformat(),
        }
        for i in range(n)
    ]


def write_cases(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write a cases CSV atomically, as an export job should (the daemon may be reading)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CASE_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------ plans


def plan_rows(
    folder: Path,
    policy: str,
    as_of: str | date,
    cases: list[dict[str, Any]],
    measures: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
) -> Plan:
    paths = write_caseload(folder, cases, measures, contacts)
    caseload_ = read_caseload(paths["cases"], paths.get("measures"), paths.get("contacts"))
    day = as_of if isinstance(as_of, date) else date.fromisoformat(as_of)
    return plan(caseload_, load_policy(policy), day)


def only(result: Plan, case_id: str = "1", kind: str | None = None) -> Obligation:
    """The single obligation of a case (of a kind); fails loudly when there are more or none."""
    found = [o for o in result.obligations if o.case_id == case_id and (kind is None or o.kind == kind)]
    assert len(found) == 1, f"expected one obligation for case {case_id} ({kind}), got {found}"
    return found[0]


PLAN_AS_OF = date(2026, 11, 20)  # the as-of date of `plan_of`


def settings(**privacy: object) -> Settings:
    """Settings for tests that pass plan and target to `run_sync` themselves."""
    return Settings(
        source={"cases": Path("cases.csv")},
        target={"kind": "caldav", "caldav": {"url": "http://127.0.0.1:1/{counsellor}/k/"}},
        items={"appointments": "marker"},
        privacy=privacy,
    )


def obligation(case_id: str = "100234", **kw: object) -> Obligation:
    """A contact obligation of counsellor `anna`; `kw` overrides any field."""
    base: dict[str, object] = {
        "case_id": case_id,
        "counsellor": "anna",
        "kind": ObligationKind.CONTACT,
        "tag": "2MM",
        "due": date(2026, 12, 2),
        "window_start": None,
        "overdue": False,
        "rule": "coburg-2016/2mm-ue25-marktnah",
        "policy": "coburg-2016",
        "cycle": "2026-10-02",
        "anchor": date(2026, 10, 2),
        "last_contact": date(2026, 10, 2),
        "interval": "2M",
    }
    base.update(kw)
    return Obligation(**base)  # type: ignore[arg-type]


def plan_of(*obs: Obligation, contacts: dict[str, tuple[date, ...]] | None = None) -> Plan:
    """A plan holding `obs`, every case named Erika Mustermann."""
    cases = {
        o.case_id: CaseFacts(
            o.case_id, o.counsellor, (contacts or {}).get(o.case_id, (date(2026, 10, 2),)),
            display_name="Erika Mustermann",
        )
        for o in obs
    }  # fmt: skip
    return Plan(as_of=PLAN_AS_OF, policy="coburg-2016", obligations=list(obs), cases=cases)


def counsellors_caseload(folder: Path, ids: dict[str, str]) -> Path:
    """The example caseload, only the cases of the counsellors in `ids` (example id -> id here),
    with their measures and contacts."""
    src = caseload(folder, keep=lambda row: row["counsellor"] in ids)

    def rename(row: dict[str, str]) -> bool:
        row["counsellor"] = ids[row["counsellor"]]
        return True

    kept = rewrite_csv(src / "cases.csv", rename)
    for name in ("measures.csv", "contacts.csv"):
        rewrite_csv(src / name, lambda row: row["case_id"] in kept)
    return src


def rewrite_csv(path: Path, keep: Callable[[dict[str, str]], bool]) -> set[str]:
    """Keep the rows of a CSV file that `keep` accepts (it may change them): their case ids."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = list(reader.fieldnames or []), [r for r in reader if keep(r)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)
    return {r["case_id"] for r in rows}
