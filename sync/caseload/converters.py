"""Cell converters: each takes a raw cell (str, or a native value from Excel) and returns the
value, raises `Blank` for an empty cell, or raises ValueError with the message for the counsellor.

Converters that see the same few values in every row (dates, statuses, profiles) remember what
they parsed; `columns()` makes fresh ones per read, so no cache outlives one caseload.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from operator import itemgetter
from typing import Any

from kontaktsync.rules.dates import parse_duration
from kontaktsync.rules.model import Duration

MAX_CASE_ID_CHARS = 64
MAX_COUNSELLOR_CHARS = 254

# Dates outside this range are typing errors (2062 for 2026) and would overflow the arithmetic.
EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)


class Blank(ValueError):
    """A cell holding only white space: read as empty."""


def norm_key(raw: str) -> str:
    """A header or a word as it is compared: lower case, umlauts spelt out, `_` for blanks and `-`."""
    s = raw.strip().lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    s = s.replace("ß", "ss")
    return re.sub(r"[\s\-]+", "_", s)


def lookup(table: dict[str, Any], what: str) -> Callable[[Any], Any]:
    """A converter for a word from `table` (keys made with `norm_key`)."""
    memo: dict[str, Any] = {}

    def conv(raw: Any) -> Any:
        hit = memo.get(raw)
        if hit is not None:
            return hit
        key = norm_key(str(raw))
        value = table.get(key)
        if value is None:
            if not key:
                raise Blank
            raise ValueError(f"unknown {what} '{str(raw).strip()}'")
        memo[raw] = value
        return value

    return conv


_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


def date_converter() -> Callable[[Any], date]:
    """A converter for YYYY-MM-DD, DD.MM.YYYY or an Excel date, between EARLIEST and LATEST."""
    memo: dict[Any, date] = {}

    def conv(raw: Any) -> date:
        hit = memo.get(raw)
        if hit is not None:
            return hit
        if isinstance(raw, datetime):
            value = raw.date()
        elif isinstance(raw, date):
            value = raw
        else:
            s = str(raw).strip()
            if not s:
                raise Blank
            try:
                if len(s) == 10 and s[4] == "-":
                    value = date.fromisoformat(s)
                else:
                    m = _GERMAN_DATE.match(s)
                    if not m:
                        raise ValueError
                    value = date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
            except ValueError:
                if re.match(r"^\d{4}-\d{2}-\d{2}$|^\d{1,2}\.\d{1,2}\.\d{4}$", s):
                    raise ValueError(f"'{s}' is not a date that exists") from None
                raise ValueError(f"'{s}' is not a date (write YYYY-MM-DD or DD.MM.YYYY)") from None
        if not EARLIEST <= value <= LATEST:
            raise ValueError(f"{value:%d.%m.%Y} lies outside {EARLIEST.year}-{LATEST.year}; is it mistyped?")
        memo[raw] = value
        return value

    return conv


_TRUE = {"true", "ja", "1", "x", "j", "yes", "y", "wahr"}
_FALSE = {"false", "nein", "0", "n", "no", "falsch"}


def to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        if raw in (0, 1):
            return bool(raw)
    else:
        s = str(raw).strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        if not s:
            raise Blank
    raise ValueError(f"'{raw}' is not yes or no (write true/false, ja/nein, 1/0 or x)")


def to_text(raw: Any) -> str:
    if type(raw) is str:
        s = raw.strip()
        if s:
            return s
        raise Blank
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    s = str(raw).strip()
    if not s:
        raise Blank
    return s


def describe_char(ch: str) -> str:
    """A character as a message can show it: never the raw control character itself."""
    if ch == " ":
        return "a space"
    if unicodedata.category(ch)[0] in "CZ":
        name = unicodedata.name(ch, "")
        return f"the invisible character U+{ord(ch):04X}" + (f" ({name.lower()})" if name else "")
    return f"'{ch}'"


# A counsellor names a calendar URL or a mailbox: a login or mail address, nothing else.
_LOGIN_MARKS = frozenset("._-@+")
_ASCII_LOGIN = re.compile(r"[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*")
LOGIN_RULE = (
    "write a login or mail address, with only letters, digits and . _ - @ + (not starting with '.', no '..')"
)


def _login_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return ch in _LOGIN_MARKS or cat[0] in "LM" or cat == "Nd"


def to_counsellor(raw: Any) -> str:
    """A login or mail address (NFC): letters of any script, digits and `._-@+`; never `/`,
    `%`, `..`, white space or control characters, which could reach a URL or mailbox name."""
    s = to_text(raw)
    if len(s) <= MAX_COUNSELLOR_CHARS and _ASCII_LOGIN.fullmatch(s) and ".." not in s:
        return s
    s = unicodedata.normalize("NFC", s)  # checked after: NFC turns U+037E into ';'
    if len(s) > MAX_COUNSELLOR_CHARS:
        raise ValueError(f"counsellor has {len(s)} characters, at most {MAX_COUNSELLOR_CHARS} are allowed")
    bad = next((ch for ch in s if not _login_char(ch)), None)
    if bad is not None:
        raise ValueError(f"{describe_char(bad)} is not allowed in counsellor: {LOGIN_RULE}")
    if s.startswith("."):
        raise ValueError(f"counsellor must not start with '.': {LOGIN_RULE}")
    if ".." in s:
        raise ValueError(f"'..' is not allowed in counsellor: {LOGIN_RULE}")
    return s


_NO_ID_CHARS = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def to_case_id(raw: Any) -> str:
    """A customer number: at most 64 characters, no line breaks or other control characters
    (it is written into calendar text and hashed into UIDs with a control character as
    separator). `;`, `,`, `:` and letters of any script are carried as they are."""
    s = to_text(raw)
    if len(s) > MAX_CASE_ID_CHARS:
        raise ValueError(f"case_id has {len(s)} characters, at most {MAX_CASE_ID_CHARS} are allowed")
    if s.isascii() and s.isprintable():  # printable ASCII, U+0020 to U+007E: the common case
        return s
    bad = next((ch for ch in s if unicodedata.category(ch) in _NO_ID_CHARS), None)
    if bad is not None:
        raise ValueError(f"case_id holds {describe_char(bad)}; a customer number cannot hold it")
    return s


def case_ids(cells: list[Any]) -> list[str] | None:
    """`to_case_id` of each cell, in C, when each is a common one: text that is printable ASCII
    of 1 to MAX_CASE_ID_CHARS characters once stripped. None when one is not."""
    try:
        ids = list(map(str.strip, cells))
    except TypeError:  # a cell that is no text (from Excel, or unreadable)
        return None
    joined = "".join(ids)
    if not (joined.isascii() and joined.isprintable()) or not ids:
        return None
    lengths = set(map(len, ids))
    return ids if min(lengths) > 0 and max(lengths) <= MAX_CASE_ID_CHARS else None


def iso_dates(texts: list[Any]) -> list[date] | None:
    """`date_converter` of each text, in C, when each is a date written YYYY-MM-DD (nothing
    around it) between EARLIEST and LATEST. None when one is not."""
    try:
        if list(map(str.strip, texts)) != texts or set(map(len, texts)) != {10}:
            return None
    except TypeError:  # a cell that is no text
        return None
    if set(map(itemgetter(4), texts)) != {"-"}:
        return None
    try:
        dates = list(map(date.fromisoformat, texts))
    except ValueError:
        return None
    return dates if min(dates) >= EARLIEST and max(dates) <= LATEST else None


@cache
def to_duration(raw: Any) -> Duration:
    if not str(raw).strip():
        raise Blank
    return parse_duration(str(raw))


def to_months(raw: Any) -> int:
    if not str(raw).strip():
        raise Blank
    try:
        value = float(str(raw).strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"'{raw}' is not a whole number of months") from None
    if not value.is_integer() or not 1 <= value <= 6:
        raise ValueError(f"extension_months must be a whole number from 1 to 6, not '{raw}'")
    return int(value)
