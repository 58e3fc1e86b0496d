"""Settings and configuration files for tests: one TOML writer (the product's own `to_toml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kontaktsync.sync.config.loading import to_toml
from kontaktsync.sync.config.models import Settings

from tests.builders import EXAMPLES


def settings_for(url: str, tmp: Path, source: Path, *, appointments: str = "marker", **sync: Any) -> Settings:
    """Settings for a CalDAV server (or proxy) at `url` (one calendar per counsellor below it),
    the caseload in `source`, state in `tmp`."""
    return Settings(
        source={
            "cases": source / "cases.csv",
            "measures": source / "measures.csv",
            "contacts": source / "contacts.csv",
        },
        target={"kind": "caldav", "caldav": {"url": url + "{counsellor}/kontaktdichte/"}},
        items={"appointments": appointments},
        sync={"state_path": tmp / "state.sqlite3", "retry_backoff_seconds": 0.01, **sync},
    )


def write_config(path: Path, data: dict[str, Any]) -> Path:
    """`data` (keys with None left out) as a TOML configuration file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_toml(_drop_none(data)), encoding="utf-8")
    return path


def write_settings(settings: Settings, path: Path) -> Path:
    """The CalDAV settings of `settings_for` as a TOML file for `kontaktsync sync --config`
    (no credentials: tests pass those through the environment)."""
    s = settings
    assert s.target.caldav is not None
    source = {"cases": s.source.cases, "measures": s.source.measures, "contacts": s.source.contacts}
    data = {
        "policy": s.policy,
        "source": {k: str(v) for k, v in source.items() if v is not None},
        "target": {"kind": "caldav", "caldav": {"url": s.target.caldav.url}},
        "items": {"appointments": s.items.appointments},
        "privacy": {"show_names": s.privacy.show_names},
        "sync": {
            "state_path": str(s.sync.state_path),
            "retry_backoff_seconds": s.sync.retry_backoff_seconds,
            "mass_delete_min": s.sync.mass_delete_min,
            "namespace": s.sync.namespace,
        },
    }
    return write_config(path, data)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def service_config(
    folder: Path,
    dav_url_template: str,
    *,
    listen: str = "",
    interval_minutes: float = 0.02,
    **sections: dict[str, Any],
) -> dict[str, Any]:
    """A daemon configuration: caseload in `folder/export`, state in `folder/state`."""
    data: dict[str, Any] = {
        "policy": "coburg-2016",
        "source": {"cases": str(folder / "export" / "cases.csv")},
        "target": {"kind": "caldav", "caldav": {"url": dav_url_template}},
        "sync": {"state_path": str(folder / "state" / "state.sqlite3")},
        "schedule": {"interval_minutes": interval_minutes},
        "observability": {"listen": listen, "log_format": "json", "log_level": "debug"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


def exchange_config(
    tmp: Path, endpoint: str, username: str, password: str, **sync: Any
) -> tuple[Path, dict[str, str]]:
    """A configuration file for the Exchange target at `endpoint` (a fake EWS server) with the
    shipped example caseload, state in `tmp`, and the environment that hands `password` over
    as a secret file (never in the file)."""
    config = write_config(
        tmp / "kontaktsync.toml",
        {
            "policy": "coburg-2016",
            "source": {t: str(EXAMPLES / f"{t}.csv") for t in ("cases", "measures", "contacts")},
            "target": {
                "kind": "exchange",
                "exchange": {
                    "endpoint": endpoint,
                    "auth": "basic",
                    "username": username,
                    "mailbox": "{counsellor}@jobcenter.example",
                },
            },
            "sync": {"state_path": str(tmp / "state.sqlite3"), **sync},
        },
    )
    secrets = tmp / "secrets"
    secrets.mkdir()
    (secrets / "kontaktsync_target__exchange__password").write_text(password)
    return config, {"KONTAKTSYNC_SECRETS_DIR": str(secrets)}
