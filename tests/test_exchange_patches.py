"""What the Exchange target changes in exchangelib (targets/exchange/patches.py): the
internals it relies on exist in the installed version, and applying is idempotent."""

from __future__ import annotations

from importlib.metadata import version

from exchangelib.items import CalendarItem, Task
from exchangelib.protocol import BaseProtocol
from kontaktsync.sync.targets.exchange import patches


def test_the_exchangelib_internals_we_patch_are_still_there() -> None:
    missing = patches.missing_internals()
    assert not missing, (
        f"exchangelib {version('exchangelib')} changed internals kontaktsync relies on: "
        f"{', '.join(missing)}. Check sync/targets/exchange/patches.py against the new "
        "version before widening the exchangelib pin in pyproject.toml."
    )


def test_a_missing_internal_is_named() -> None:
    entry = ("Task due_date field", lambda: Task.get_field_by_fieldname("due_date"), "_no_such_internal")
    patches.INTERNALS.append(entry)
    try:
        assert patches.missing_internals() == ["Task due_date field._no_such_internal"]
    finally:
        patches.INTERNALS.remove(entry)


def test_apply_is_idempotent() -> None:
    patches.apply()
    fields = [Task.get_field_by_fieldname(n) for n in ("due_date", "start_date")]
    readers = [f.from_xml for f in fields]
    patches.apply()
    assert [f.from_xml for f in fields] == readers  # not wrapped twice
    for cls in (Task, CalendarItem):
        names = [f.name for f in cls.FIELDS]
        assert names.count(patches.UID_FIELD) == 1 and names.count(patches.MARKER_FIELD) == 1


def test_the_http_adapter_counts_and_keeps_the_deadline() -> None:
    before = BaseProtocol.HTTP_ADAPTER_CLS
    try:
        patches.configure_http(True, 7.5)
        adapter = BaseProtocol.HTTP_ADAPTER_CLS
        assert adapter.deadline_seconds == 7.5
        assert issubclass(adapter, patches._CountingMixin)
    finally:
        BaseProtocol.HTTP_ADAPTER_CLS = before
