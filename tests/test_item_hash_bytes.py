"""The hashes of item fields (stored in the state database and in every item's marker) hash the
bytes of `json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))`.
`sync.item.hashed_bytes` makes them with orjson: it must give exactly those bytes, or a stored
hash would stop matching and every item would look edited by a person."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kontaktsync.sync.item import hashed_bytes

REFERENCE = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=20,
)


def test_every_code_point_is_written_as_the_json_module_writes_it() -> None:
    for start in range(0, 0x110000, 0x1000):
        text = "".join(chr(c) for c in range(start, start + 0x1000) if not 0xD800 <= c <= 0xDFFF)
        assert hashed_bytes(text) == REFERENCE.encode(text).encode(), hex(start)


@settings(max_examples=500)
@given(VALUES)
def test_any_value_of_strings_numbers_and_lists_gives_the_same_bytes(value: object) -> None:
    assert hashed_bytes(value) == REFERENCE.encode(value).encode()


def test_what_orjson_would_write_its_own_way_goes_to_the_json_module() -> None:
    from datetime import date

    with pytest.raises(TypeError):  # the json module refuses a date, as it always did
        hashed_bytes({"due": date(2026, 1, 1)})
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate: refused as before
        hashed_bytes("\ud800")
    big = 2**80
    assert hashed_bytes([big]) == REFERENCE.encode([big]).encode()


def test_the_field_hashes_of_an_item_are_those_of_the_json_module() -> None:
    import hashlib

    from kontaktsync.sync.item import hash_fields

    fields = {"type": "task", "summary": "2MM Kontakt fällig – Kd 1 (Ελένη 🙂)", "description": "a\nb",
              "categories": ["Kontaktdichte", "2MM"], "priority": 1, "private": True,
              "due": "2026-11-23", "start": None, "status": "open"}  # fmt: skip
    norm = dict(fields, categories=sorted(fields["categories"]))
    want = hashlib.sha256(REFERENCE.encode(norm).encode()).hexdigest()[:32]
    assert hash_fields(fields) == want
