"""One settings model for the whole service (pydantic-settings).

Sections: source, policy, target (caldav | exchange), items, privacy, sync, schedule,
observability, report. Where values come from and in which order: kontaktsync.sync.config.loading;
this module only declares what can be set and validates it. `Settings(...)` alone reads its
arguments and the environment (pydantic-settings' defaults).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from kontaktsync.rules.office import check_ranges
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SourceSettings(BaseModel):
    cases: Path = Field(description="cases CSV/XLSX file, or a folder holding cases/measures/contacts")
    measures: Path | None = None
    contacts: Path | None = None
    header_map: dict[str, str] = Field(
        default_factory=dict,
        description="maps a column header of the export to a canonical column name",
    )
    encoding: Literal["auto", "utf-8", "cp1252"] = Field(
        default="auto",
        description="text encoding of CSV files; auto = UTF-8 (with or without BOM), else Windows-1252",
    )
    sheets: dict[str, str] = Field(
        default_factory=dict,
        description="table -> sheet name of an .xlsx workbook, e.g. {cases = 'Tabelle1'}",
    )


class _HttpSettings(BaseModel):
    """What every target that speaks HTTP shares."""

    verify_tls: bool | Path = True
    deadline_seconds: float = Field(
        default=120.0, gt=0, description="total time one request may take (connect, send, whole answer)"
    )
    allow_insecure_http: bool = Field(
        default=False,
        description="allow Basic authentication over plain http:// to a host other than loopback",
    )


class CalDAVSettings(_HttpSettings):
    url: str = Field(
        description="calendar URL template, e.g. https://dav.example/{counsellor}/kontaktdichte/",
    )
    calendars: dict[str, str] = Field(
        default_factory=dict, description="explicit counsellor -> calendar URL table (wins over url)"
    )
    username: str | None = None
    password: SecretStr | None = None
    create_calendars: bool = True
    timeout_seconds: float = Field(default=30.0, gt=0, description="longest wait for any one read")
    auth: Literal["basic", "digest", "auto"] = Field(
        default="basic",
        description="authentication scheme sent with every request; auto: learn it from the "
        "server's first 401 (one extra round trip per connection)",
    )
    busy_urls: list[str] = Field(
        default_factory=list,
        description="calendars holding a counsellor's busy time besides the program's own, as URL "
        "templates like url, e.g. ['https://dav.example/{counsellor}/calendar/']",
    )
    busy_method: Literal["auto", "free-busy", "events"] = Field(
        default="auto",
        description="how busy_urls are read: free-busy = free-busy-query REPORT, events = "
        "calendar-query with recurrences expanded here, auto = free-busy where the server answers "
        "it, else events",
    )


class ExchangeSettings(_HttpSettings):
    endpoint: str | None = Field(
        default=None, description="EWS URL, e.g. https://mail.example/EWS/Exchange.asmx"
    )
    autodiscover: bool = False
    auth: Literal["ntlm", "basic", "oauth2"] = "ntlm"
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    tenant_id: str | None = None
    access: Literal["impersonation", "delegate"] = "impersonation"
    mailbox: str = Field(default="{counsellor}", description="mailbox address template")
    mailboxes: dict[str, str] = Field(default_factory=dict, description="explicit counsellor -> mailbox")
    timezone: str = "Europe/Berlin"
    max_throttle_wait_seconds: float = 300.0


class TargetSettings(BaseModel):
    kind: Literal["caldav", "exchange"] = "caldav"
    caldav: CalDAVSettings | None = None
    exchange: ExchangeSettings | None = None


_OVER = "overrides the policy's office value "


class ItemSettings(BaseModel):
    appointments: Literal["none", "marker", "slot"] = Field(
        default="none",
        description="besides each task: none; marker = an all-day appointment on the due date; slot = "
        "a proposed, tentative appointment in the counsellor's free time",
    )
    first_talk_minutes: int | None = Field(
        default=None, ge=5, le=480, description=_OVER + "office.talk_minutes.first_talk (slot)"
    )
    follow_up_minutes: int | None = Field(
        default=None, ge=5, le=480, description=_OVER + "office.talk_minutes.default (slot)"
    )
    interpreter_minutes: int | None = Field(
        default=None, ge=5, le=480, description=_OVER + "office.talk_minutes.interpreter (slot)"
    )
    opening_hours: str | None = Field(
        default=None,
        description=_OVER
        + "office.opening_hours for Monday to Friday, e.g. '08:00-12:00,13:00-15:30' (slot)",
    )
    buffer_minutes: int | None = Field(
        default=None, ge=0, le=240, description=_OVER + "office.buffer_minutes (slot)"
    )
    talks_per_day: int | None = Field(
        default=None, ge=1, le=50, description=_OVER + "office.talks_per_day (slot)"
    )
    talks_per_week: int | None = Field(
        default=None, ge=1, le=250, description=_OVER + "office.talks_per_week (slot; the report's capacity)"
    )
    part_time: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=dict,
        description="counsellor -> share of a full-time post (0.5 = half; above 0, at most 1), scales the "
        "daily and weekly capacity (slot)",
    )

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            check_ranges(opening_ranges(value))
        return value


def opening_ranges(value: str) -> list[str]:
    """`items.opening_hours` ('08:00-12:00,13:00-15:30') as its ranges."""
    return [r.strip() for r in value.split(",") if r.strip()]


class PrivacySettings(BaseModel):
    show_names: bool = False
    pseudonymize: bool = False
    pseudonym_key: SecretStr | None = None


class SyncSettings(BaseModel):
    namespace: str = Field(default="kontaktsync", description="keeps UIDs of two deployments apart")
    state_path: Path = Path("kontaktsync-state.sqlite3")
    on_case_left: Literal["delete", "complete", "keep"] = "delete"
    mass_delete_share: float = Field(default=0.3, ge=0, le=1)
    mass_delete_min: int = Field(
        default=10, ge=0, description="the mass-delete guard ignores calendars losing fewer items"
    )
    retries: int = 3
    workers: int = Field(
        default=4, ge=1, le=32, description="calendars synced at once (targets that allow it)"
    )
    full_listing_hours: float = Field(
        default=24,
        gt=0,
        description="list each calendar in full at least this often instead of asking for changes only",
    )
    retry_backoff_seconds: float = Field(
        default=0.5, ge=0, description="first back-off of a retried request; doubles per retry"
    )


class ScheduleSettings(BaseModel):
    interval_minutes: float | None = Field(
        default=15, gt=0, description="minutes between runs (fractions allowed), e.g. 15"
    )
    cron: str | None = Field(
        default=None, description="a cron expression in local time, e.g. '*/15 7-18 * * 1-5'"
    )
    run_at_start: bool = Field(default=True, description="run once right after the daemon starts")

    @field_validator("cron")
    @classmethod
    def _cron_is_valid(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression such as '*/15 7-18 * * 1-5'")
        return value


class ObservabilitySettings(BaseModel):
    listen: str = Field(default="127.0.0.1:9464", description="host:port for /healthz and /metrics, '' = off")
    healthy_within_minutes: float = Field(default=60, gt=0)
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    report: bool = Field(
        default=False,
        description="serve the team leader's report (HTML, per team) at /report on observability.listen",
    )

    @field_validator("listen")
    @classmethod
    def _listen_is_host_port(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not host:port such as '127.0.0.1:9464'")
        return value


class ReportSettings(BaseModel):
    """The team leader's report (`kontaktsync report`, the daemon's /report and its metrics)."""

    per_counsellor: bool = Field(
        default=False,
        description="also break the report and its metrics down per named counsellor: a performance "
        "record of employees, which needs the staff council's agreement (§ 75 BPersVG, § 87 BetrVG)",
    )
    weeks: int = Field(default=4, ge=1, le=26, description="calendar weeks ahead in the load chart")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KONTAKTSYNC_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    source: SourceSettings
    policy: str = "coburg-2016"
    target: TargetSettings = Field(default_factory=TargetSettings)
    items: ItemSettings = Field(default_factory=ItemSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    report: ReportSettings = Field(
        default_factory=ReportSettings, description="the team leader's report: breakdown and weeks shown"
    )
