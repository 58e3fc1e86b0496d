"""The plan's order (due, case_id, kind) made by one string key (rules/engine.py `plan_order`) is
the order of the tuple, for any case ids the reader lets through."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st
from kontaktsync.rules.engine import plan_order as _order
from kontaktsync.rules.model import Obligation, ObligationKind

# case ids as the reader allows them: no control characters (converters.to_case_id)
CASE_IDS = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), min_size=1, max_size=8)
DAYS = st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31))


@given(st.lists(st.tuples(DAYS, CASE_IDS, st.sampled_from(list(ObligationKind))), max_size=40))
def test_the_string_key_sorts_as_the_tuple(rows: list[tuple[date, str, ObligationKind]]) -> None:
    obs = [Obligation(cid, "c", kind, "1MM", due, None, False, "p/r", "p", "x") for due, cid, kind in rows]
    by_tuple = sorted(obs, key=lambda o: (o.due, o.case_id, o.kind))
    assert [id(o) for o in sorted(obs, key=_order)] == [id(o) for o in by_tuple]
