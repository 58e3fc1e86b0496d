"""The condition compiler: a policy's `when` becomes a `Test` of a case view.

One walker makes, for every part of a condition, the predicate `plan` runs, the wording
`explain` shows when it fails, and the facts it reads. What a condition reads is therefore
always what it tests: two cases that agree on `Test.reads` meet the same conditions, which is
what lets the engine look the first matching contact rule up instead of testing every case.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter

from kontaktsync.rules.policy_format import CaseCondition, Condition
from kontaktsync.rules.view import CaseView

Pred = Callable[[CaseView], bool]
Why = Callable[[CaseView], str]
FLAGS = ("buergerarbeit", "umschueler", "needs_interpreter")


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a condition: the test, its wording when it fails, the view attributes whose
    values it reads (dotted for case fields, as `operator.attrgetter` takes them), the ages at
    which its outcome can change, and the attributes it only tests for being filled
    (`facts_key`)."""

    holds: Pred
    why_not: Why
    reads: frozenset[str] = frozenset()
    cuts: frozenset[int] = frozenset()
    empties: frozenset[str] = frozenset()


def _combine(preds: list[Pred]) -> Pred:
    """One closure per rule: the engine's hot loop makes a single call per rule tried."""
    if not preds:
        return lambda v: True
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda v: a(v) and b(v)
    if len(preds) == 3:
        a, b, c = preds
        return lambda v: a(v) and b(v) and c(v)
    return lambda v: all(p(v) for p in preds)


@dataclass(frozen=True, slots=True)
class Test:
    """A compiled condition: `holds` is the fast path `plan` takes; `why_not` words the first
    failing part for `explain` (it is only called there, so the plan never formats strings)."""

    parts: tuple[Part, ...]
    holds: Pred = field(init=False)
    reads: frozenset[str] = field(init=False)
    cuts: frozenset[int] = field(init=False)
    empties: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holds", _combine([p.holds for p in self.parts]))
        object.__setattr__(self, "reads", frozenset().union(*(p.reads for p in self.parts)))
        object.__setattr__(self, "cuts", frozenset().union(*(p.cuts for p in self.parts)))
        object.__setattr__(self, "empties", frozenset().union(*(p.empties for p in self.parts)))

    def why_not(self, v: CaseView) -> str | None:
        for part in self.parts:
            if not part.holds(v):
                return part.why_not(v)
        return None


def _fmt(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in values)


def _age(lo: int, hi: int) -> Part:
    def why(v: CaseView) -> str:
        if v.age is None:
            return "needs the age, but birth_date is empty"
        return f"age {v.age} is below {lo}" if v.age < lo else f"age {v.age} is above {hi}"

    return Part(
        lambda v: v.age is not None and lo <= v.age <= hi, why, frozenset({"age"}), frozenset({lo, hi + 1})
    )


def _one_of(attr: str, allowed: frozenset[str], wording: str) -> Part:
    """The view's `attr` (status, profile, team) is one of `allowed`."""
    if attr == "status":
        holds: Pred = lambda v: v.status in allowed  # noqa: E731
    elif attr == "profile":
        holds = lambda v: v.profile in allowed  # noqa: E731
    else:
        holds = lambda v: v.team in allowed  # noqa: E731
    return Part(holds, lambda v: f"{attr} {getattr(v.case, attr)} {wording}", frozenset({attr}))


def _flag(name: str, want: bool) -> Part:
    return Part(
        lambda v: getattr(v.case, name) == want,
        lambda v: f"{name} is {'not ' if want else ''}set",
        frozenset({f"case.{name}"}),
    )


def _filled(name: str, want: bool) -> Part:
    """`known` (want: filled) or `unknown` (want: empty) field."""
    empties = frozenset({f"case.{name}"})
    if want:
        return Part(
            lambda v: getattr(v.case, name) is not None, lambda v: f"{name} is empty", empties=empties
        )
    return Part(lambda v: getattr(v.case, name) is None, lambda v: f"{name} is filled", empties=empties)


def _parts(cond: Condition, groups: dict[str, list]) -> list[Part]:
    parts: list[Part] = []
    if cond.age is not None:
        lo = cond.age.min if cond.age.min is not None else -1
        hi = cond.age.max if cond.age.max is not None else 10_000
        parts.append(_age(lo, hi))
    if cond.status is not None:
        parts.append(_one_of("status", frozenset(cond.status), f"is not {_fmt(cond.status)}"))
    if cond.profile is not None:
        parts.append(_one_of("profile", frozenset(cond.profile), f"is not {_fmt(cond.profile)}"))
    if cond.profile_group is not None:
        members = frozenset(p for g in cond.profile_group for p in groups[g])
        parts.append(_one_of("profile", members, f"is not in group {_fmt(cond.profile_group)}"))
    if cond.team is not None:
        parts.append(_one_of("team", frozenset(cond.team), f"is not {_fmt(cond.team)}"))
    for flag in FLAGS:
        want = getattr(cond, flag)
        if want is not None:
            parts.append(_flag(flag, want))
    if cond.active_measure is not None:
        want_active = cond.active_measure
        parts.append(
            Part(
                lambda v: v.active_measure == want_active,
                lambda v: "no measure is active on the as-of date" if want_active else "a measure is active",
                frozenset({"active_measure"}),
            )
        )
    parts += [_filled(name, True) for name in cond.known or ()]
    parts += [_filled(name, False) for name in cond.unknown or ()]
    if cond.any_of:
        alternatives = [compile_condition(c, groups) for c in cond.any_of]
        parts.append(
            Part(
                lambda v: any(alt.holds(v) for alt in alternatives),
                lambda v: "none of: " + "; ".join(str(alt.why_not(v)) for alt in alternatives),
                frozenset().union(*(alt.reads for alt in alternatives)),
                frozenset().union(*(alt.cuts for alt in alternatives)),
                frozenset().union(*(alt.empties for alt in alternatives)),
            )
        )
    return parts


def facts_key(tests: Iterable[Test]) -> Callable[[CaseView], Hashable]:
    """A key of the facts `tests` read, as coarse as they test them: two views with one key meet
    every one of the conditions alike. An age counts by its bracket between the ages the
    conditions name, not by the year; a field tested only for being filled, by whether it is.
    So a policy's cases fall into a few hundred keys, whatever their ages and dates."""
    tests = list(tests)
    reads = sorted(frozenset().union(*(t.reads for t in tests)))
    cuts = sorted(frozenset().union(*(t.cuts for t in tests)))
    empties = sorted(frozenset().union(*(t.empties for t in tests)))
    plain = [r for r in reads if r != "age"]
    parts: list[Callable[[CaseView], Hashable]] = []
    if plain:
        parts.append(attrgetter(*plain))
    if "age" in reads:
        parts.append(lambda v: None if v.age is None else bisect_right(cuts, v.age))
    for name in empties:
        get = attrgetter(name)
        parts.append(lambda v, get=get: get(v) is None)
    if not parts:
        return lambda v: ()
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda v: (a(v), b(v))
    return lambda v: tuple(p(v) for p in parts)


def compile_condition(cond: Condition, groups: dict[str, list]) -> Test:
    """`cond` as a Test; `groups` are the policy's profile groups."""
    return Test(tuple(_parts(cond, groups)))


def compile_case_condition(cond: CaseCondition, groups: dict[str, list]) -> Test:
    """A case rule's condition: the contact rule that matched is tested first."""
    parts = _parts(cond, groups)
    if cond.contact_rule is not None:
        names, n_text = frozenset(cond.contact_rule), _fmt(cond.contact_rule)

        def why(v: CaseView) -> str:
            got = f"contact rule {v.contact_rule} matched" if v.contact_rule else "no contact rule matched"
            return f"{got}, not {n_text}"

        parts.insert(0, Part(lambda v: v.contact_rule in names, why, frozenset({"contact_rule"})))
    return Test(tuple(parts))
