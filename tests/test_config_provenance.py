"""Where a wrong setting came from: the files of a load read once for the explanations (the
TOML file as the load parsed it, .env once), however many problems.

The messages are pinned whole (setting, message, fix, origin): explaining ten problems must
say exactly what it said when each problem read the files again.
"""

from __future__ import annotations

import builtins
import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kontaktsync.sync.config.loading import ConfigError, load_settings

# Wrong in the TOML file, the .env file, the secrets directory and the environment at once:
# pydantic's validation errors, then keys no setting has.
INVALID_TOML = """\
[source]
cases = "c.csv"
[target]
kind = "cladav"
[target.caldav]
url = "https://dav.invalid/{counsellor}/"
pasword = "x"
[sync]
retries = "three"
mass_delete_share = 3
retires = 2
[schedule]
cron = "every monday"
"""
CALDAV_KEYS = (
    "allow_insecure_http, auth, busy_method, busy_urls, calendars, create_calendars, "
    "deadline_seconds, password, timeout_seconds, url, username, verify_tls"
)
SYNC_KEYS = (
    "full_listing_hours, mass_delete_min, mass_delete_share, namespace, on_case_left, retries, "
    "retry_backoff_seconds, state_path, workers"
)
NOT_AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"
TOML = "config file TMP/kontaktsync.toml"
UNKNOWN_SHOW_NAME = (
    "privacy.show_name",
    "is not a known setting",
    "did you mean `show_names`? remove or rename it; known here: pseudonym_key, pseudonymize, show_names",
    ".env (KONTAKTSYNC_PRIVACY__SHOW_NAME)",
)
UNKNOWN_RETIRES = (
    "sync.retires",
    "is not a known setting",
    f"did you mean `retries`? remove or rename it; known here: {SYNC_KEYS}",
    TOML,
)
INVALID_PROBLEMS = [
    (
        "target.kind",
        "Input should be 'caldav' or 'exchange' (got 'cladav')",
        "use one of 'caldav' or 'exchange'",
        TOML,
    ),
    (
        "items.buffer_minutes",
        f"{NOT_AN_INTEGER} (got '-x')",
        "write a whole number, e.g. 30",
        "environment variable KONTAKTSYNC_ITEMS__BUFFER_MINUTES",
    ),
    (
        "items.talks_per_day",
        f"{NOT_AN_INTEGER} (got 'five')",
        "write a whole number, e.g. 30",
        ".env (KONTAKTSYNC_ITEMS__TALKS_PER_DAY)",
    ),
    (
        "sync.mass_delete_share",
        "Input should be less than or equal to 1 (got 3)",
        "give a value that is less than or equal to 1",
        TOML,
    ),
    ("sync.retries", f"{NOT_AN_INTEGER} (got 'three')", "write a whole number, e.g. 30", TOML),
    (
        "schedule.cron",
        "'every monday' is not a cron expression such as '*/15 7-18 * * 1-5'",
        "schedule.cron should be: a cron expression in local time, e.g. '*/15 7-18 * * 1-5'",
        TOML,
    ),
    (
        "observability.listen",
        "'localhost' is not host:port such as '127.0.0.1:9464'",
        "observability.listen should be: host:port for /healthz and /metrics, '' = off",
        "secret file TMP/secrets/kontaktsync_observability__listen",
    ),
    (
        "target.caldav.pasword",
        "is not a known setting",
        f"did you mean `password`? remove or rename it; known here: {CALDAV_KEYS}",
        TOML,
    ),
    UNKNOWN_RETIRES,
    UNKNOWN_SHOW_NAME,
]

# Valid for the model, wrong as a whole: unknown keys, then the checks across settings (each
# of which looks its origin up).
INCONSISTENT_TOML = """\
[source]
cases = "c.csv"
[target]
kind = "exchange"
[privacy]
pseudonymize = true
[sync]
retires = 2
"""
INCONSISTENT_PROBLEMS = [
    UNKNOWN_RETIRES,
    UNKNOWN_SHOW_NAME,
    (
        "target.exchange",
        "is missing, but target.kind is 'exchange'",
        'add a [target.exchange] table with endpoint = "https://mail.example/EWS/Exchange.asmx" '
        '(or set target.kind = "caldav")',
        None,
    ),
    (
        "privacy.pseudonym_key",
        "is required when privacy.pseudonymize is true",
        "put a long random key in the secret file kontaktsync_privacy__pseudonym_key",
        None,
    ),
]


def _problems_and_reads(tmp: Path, toml: str) -> tuple[list[Any], Counter]:
    """Load `toml` (and ./.env), counting the files in `tmp` opened for reading (by `open`,
    which python-dotenv calls, and `io.open`, which pathlib calls)."""
    config = tmp / "kontaktsync.toml"
    config.write_text(toml, encoding="utf-8")
    reads: Counter = Counter()
    real_open = io.open

    def counting(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | Path) and "w" not in mode and Path(file).resolve().parent == tmp.resolve():
            reads[Path(file).name] += 1
        return real_open(file, mode, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch, pytest.raises(ConfigError) as raised:
        patch.setattr(io, "open", counting)
        patch.setattr(builtins, "open", counting)
        load_settings(config)
    found = [(p.setting, p.message, p.fix, p.origin) for p in raised.value.problems]
    return [tuple(str(x).replace(str(tmp), "TMP") if x else x for x in p) for p in found], reads


def test_invalid_settings_from_every_source_read_each_file_once(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = "KONTAKTSYNC_ITEMS__TALKS_PER_DAY=five\nKONTAKTSYNC_PRIVACY__SHOW_NAME=true\n"
    (isolated_env / ".env").write_text(dotenv)
    secrets = isolated_env / "secrets"
    secrets.mkdir()
    (secrets / "kontaktsync_observability__listen").write_text("localhost")
    monkeypatch.setenv("KONTAKTSYNC_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("KONTAKTSYNC_ITEMS__BUFFER_MINUTES", "-x")

    problems, reads = _problems_and_reads(isolated_env, INVALID_TOML)

    assert problems == INVALID_PROBLEMS
    assert reads == {"kontaktsync.toml": 1, ".env": 1}


def test_inconsistent_settings_read_each_file_once(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_env / ".env").write_text("KONTAKTSYNC_PRIVACY__SHOW_NAME=true\n")

    problems, reads = _problems_and_reads(isolated_env, INCONSISTENT_TOML)

    assert problems == INCONSISTENT_PROBLEMS
    assert reads == {"kontaktsync.toml": 1, ".env": 1}


def test_a_changed_file_is_read_again_at_the_next_load(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon loads again at each start; nothing is kept by path from one load to the next."""
    problems, _ = _problems_and_reads(isolated_env, INCONSISTENT_TOML)
    assert UNKNOWN_RETIRES in problems
    problems, reads = _problems_and_reads(isolated_env, INCONSISTENT_TOML.replace("retires", "retris"))
    assert UNKNOWN_RETIRES not in problems
    assert ("sync.retris", "is not a known setting") in [p[:2] for p in problems]
    assert reads == {"kontaktsync.toml": 1}
