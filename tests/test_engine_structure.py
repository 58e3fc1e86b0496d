"""How the engine is cut (issue 9): rules never reach into sync, its modules import each other
without cycles and only at the top, and explain words every event the engine reports."""

from __future__ import annotations

import ast
import inspect
from datetime import date
from pathlib import Path

import pytest
from kontaktsync.rules.conditions import compile_condition, facts_key
from kontaktsync.rules.listener import Listener
from kontaktsync.rules.model import Case, Profile, Status, Team
from kontaktsync.rules.policy_format import DEFAULT_PROFILE_GROUPS, Condition
from kontaktsync.rules.trace import TraceListener
from kontaktsync.rules.view import CaseView

RULES = Path(__file__).parents[1] / "rules"


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """The kontaktsync modules `path` imports at module level, and any import inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kontaktsync"):
            top.add(node.module)
        elif isinstance(node, ast.Import):
            top |= {a.name for a in node.names if a.name.startswith("kontaktsync")}
    hidden = [
        f"{path.name}:{inner.lineno}"
        for fn in ast.walk(tree)
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        for inner in ast.walk(fn)
        if isinstance(inner, (ast.Import, ast.ImportFrom))
    ]
    return top, hidden


GRAPH = {f"kontaktsync.rules.{p.stem}": _imports(p) for p in RULES.glob("*.py")}


def test_rules_never_import_sync():
    wrong = {m: sorted(i for i in imps if i.startswith("kontaktsync.sync")) for m, (imps, _) in GRAPH.items()}
    assert {m: i for m, i in wrong.items() if i} == {}


def test_rules_import_at_the_top_only():
    assert [h for _, (_, hidden) in GRAPH.items() for h in hidden] == []


def test_rules_modules_import_each_other_without_cycles():
    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            pytest.fail("import cycle: " + " -> ".join((*path[path.index(module) :], module)))
        for dep in GRAPH.get(module, (set(), []))[0]:
            visit(dep, (*path, module))

    for module in GRAPH:
        visit(module, ())


def test_explain_words_every_event_of_the_engine():
    events = {n for n, f in inspect.getmembers(Listener, inspect.isfunction) if not n.startswith("_")}
    worded = {n for n in events if getattr(TraceListener, n) is not getattr(Listener, n)}
    assert events and events - worded == set()


def _view(**facts: object) -> CaseView:
    case = Case("1", "c", Status.ARBEITSLOS, Profile.MARKTPROFIL, Team.STANDARD)
    for name in ("buergerarbeit", "profile_since", "care_plan_created"):
        if name in facts:
            setattr(case, name, facts.pop(name))
    v = CaseView(case, 30, None, (), False, case.status, case.profile, case.team)
    for name, value in facts.items():
        setattr(v, name, value)
        if hasattr(case, name):
            setattr(case, name, value)
    return v


# each condition part, a view it holds for and one it does not
PARTS = [
    ({"age": {"min": 25}}, {"age": 30}, {"age": 20}),
    ({"age": {"max": 24}}, {"age": 20}, {"age": None}),
    ({"status": ["arbeitslos"]}, {}, {"status": Status.ARBEITSUCHEND}),
    ({"profile": ["marktprofil"]}, {}, {"profile": Profile.Z}),
    ({"profile_group": ["complex"]}, {"profile": Profile.ENTWICKLUNGSPROFIL}, {}),
    ({"team": ["reha"]}, {"team": Team.REHA}, {}),
    ({"buergerarbeit": True}, {"buergerarbeit": True}, {}),
    ({"active_measure": True}, {"active_measure": True}, {}),
    ({"known": ["profile_since"]}, {"profile_since": date(2026, 1, 1)}, {}),
    ({"unknown": ["care_plan_created"]}, {}, {"care_plan_created": date(2026, 1, 1)}),
    ({"any_of": [{"team": ["bjo"]}, {"known": ["profile_since"]}]}, {"profile_since": date(2026, 1, 1)}, {}),
]


@pytest.mark.parametrize(("cond", "yes", "no"), PARTS, ids=[next(iter(p[0])) for p in PARTS])
def test_a_condition_reads_every_fact_it_tests(cond, yes, no):
    """The engine looks the first matching contact rule up by the facts a condition reads, as
    coarse as it tests them (`facts_key`): two views a condition tells apart must differ there."""
    test = compile_condition(Condition.model_validate(cond), DEFAULT_PROFILE_GROUPS)
    a, b = _view(**yes), _view(**no)
    assert test.holds(a) and not test.holds(b)
    assert test.why_not(a) is None and test.why_not(b)
    key = facts_key([test])
    assert key(a) != key(b)
