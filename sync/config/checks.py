"""Checks across settings that the model alone cannot see.

A target kind without its table, missing credentials, URLs that would send a password in the
clear or hold one in their user-info: each becomes a `Problem` with its fix. `semantic_problems`
makes a load fail; `credential_warnings` and `missing_password_problems` are for `config check`.
"""

from __future__ import annotations

import string
from urllib.parse import urlsplit

from kontaktsync.sync.config.errors import Problem
from kontaktsync.sync.config.files import ConfigFiles, env_name, secret_file_name
from kontaktsync.sync.config.masking import mask_userinfo
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.config.network import insecure_http_problem


def semantic_problems(settings: Settings, *, require_target: bool = True) -> list[Problem]:
    """What the model alone cannot see: a target without its table, missing credentials."""
    problems: list[Problem] = []
    if require_target:
        problems += _target_problems(settings)
    if settings.privacy.pseudonymize and settings.privacy.pseudonym_key is None:
        problems.append(
            Problem(
                "privacy.pseudonym_key",
                "is required when privacy.pseudonymize is true",
                "put a long random key in the secret file kontaktsync_privacy__pseudonym_key",
            )
        )
    if settings.schedule.cron is None and settings.schedule.interval_minutes is None:
        problems.append(
            Problem(
                "schedule.interval_minutes",
                "is empty and no schedule.cron is set, so the daemon would never run",
                "set interval_minutes = 15 or cron = '*/15 * * * *' under [schedule]",
            )
        )
    return problems


def _target_problems(settings: Settings) -> list[Problem]:
    target = settings.target
    if target.kind == "caldav":
        if target.caldav is None:
            return [
                Problem(
                    "target.caldav",
                    "is missing, but target.kind is 'caldav'",
                    'add a [target.caldav] table with url = "https://dav.example/{counsellor}/'
                    'kontaktdichte/" (or set target.kind = "exchange")',
                )
            ]
        return _caldav_problems(settings)
    if target.exchange is None:
        return [
            Problem(
                "target.exchange",
                "is missing, but target.kind is 'exchange'",
                'add a [target.exchange] table with endpoint = "https://mail.example/EWS/'
                'Exchange.asmx" (or set target.kind = "caldav")',
            )
        ]
    return _exchange_problems(settings)


def _exchange_problems(settings: Settings) -> list[Problem]:
    ex = settings.target.exchange
    assert ex is not None
    problems: list[Problem] = []
    if ex.endpoint:
        allow = "target.exchange.allow_insecure_http"
        why = insecure_http_problem(ex.endpoint, True, ex.allow_insecure_http, allow)
        if why:
            problems.append(Problem("target.exchange.endpoint", why, _INSECURE_FIX.format(kind="exchange")))
    if ex.endpoint is None and not ex.autodiscover:
        problems.append(
            Problem(
                "target.exchange.endpoint",
                "is not set and autodiscover is off",
                "set endpoint to the EWS URL, or autodiscover = true",
            )
        )
    if ex.auth == "oauth2":
        for name in ("client_id", "client_secret", "tenant_id"):
            if getattr(ex, name) is None:
                where = (
                    "put it in the secret file kontaktsync_target__exchange__client_secret"
                    if name == "client_secret"
                    else f"set {name} under [target.exchange]"
                )
                problems.append(
                    Problem(
                        f"target.exchange.{name}", "is required when target.exchange.auth is 'oauth2'", where
                    )
                )
    elif ex.username is None or ex.password is None:
        missing = "username" if ex.username is None else "password"
        problems.append(
            Problem(
                f"target.exchange.{missing}",
                f"is required when target.exchange.auth is '{ex.auth}'",
                "set it; keep the password in the secret file kontaktsync_target__exchange__password "
                "(or the environment variable KONTAKTSYNC_TARGET__EXCHANGE__PASSWORD)",
            )
        )
    return problems


def _caldav_problems(settings: Settings) -> list[Problem]:
    caldav = settings.target.caldav
    assert caldav is not None
    problems: list[Problem] = []
    urls = [("target.caldav.url", caldav.url)] + [
        (f"target.caldav.calendars.{who}", url) for who, url in caldav.calendars.items()
    ]
    for dotted, url in urls:
        if not url.startswith(("http://", "https://")):
            problems.append(
                Problem(
                    dotted,
                    f"must start with http:// or https:// (got {mask_userinfo(url)!r})",
                    "write the full calendar URL, e.g. https://dav.example/{counsellor}/kontaktdichte/",
                )
            )
            continue
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(url) if name is not None}
        except ValueError as exc:
            problems.append(Problem(dotted, f"is not a valid template: {exc}", "balance { and }"))
            continue
        unknown = fields - {"counsellor", "counsellor_slug"}
        if unknown:
            problems.append(
                Problem(
                    dotted,
                    f"uses the unknown placeholder(s) {', '.join(sorted(unknown))}",
                    "the placeholders are {counsellor} and {counsellor_slug}",
                )
            )
        probe = url.replace("{counsellor_slug}", "{counsellor}").replace(
            "{counsellor}", "kontaktsync-placeholder"
        )
        if "{counsellor" in url and "kontaktsync-placeholder" not in urlsplit(probe).path:
            problems.append(
                Problem(
                    dotted,
                    "has the {counsellor} placeholder outside the path",
                    "put {counsellor} into the path, e.g. https://dav.example/{counsellor}/kontaktdichte/",
                )
            )
        has_credentials = caldav.username is not None or bool(urlsplit(url).username)
        why = insecure_http_problem(
            url, has_credentials, caldav.allow_insecure_http, "target.caldav.allow_insecure_http"
        )
        if why:
            problems.append(Problem(dotted, why, _INSECURE_FIX.format(kind="caldav")))
    if caldav.password is not None and caldav.username is None:
        problems.append(
            Problem(
                "target.caldav.username",
                "is not set, but a password is",
                "set username under [target.caldav] (the password belongs in a secret file)",
            )
        )
    return problems


_INSECURE_FIX = (
    "use https://; or, only on a network you trust (a container network, a VPN), "
    "set allow_insecure_http = true under [target.{kind}]"
)


def _url_credential_warning(dotted: str, url: str) -> Problem | None:
    """A password (or token) written into a URL's user-info: it ends up in shell histories,
    process lists and copies of the file. The value is never echoed."""
    netloc = urlsplit(url).netloc
    userinfo = netloc.rpartition("@")[0]
    if not userinfo:
        return None
    kind = "a password" if ":" in userinfo else "user-info (a user name or token)"
    table = dotted.rsplit(".", 1)[0] if dotted.count(".") == 2 else "target.caldav"
    return Problem(
        dotted,
        f"holds {kind} in the URL; credentials belong in the secrets directory, not the URL",
        f"remove 'user:password@' from the URL, set username under [{table}] and put the password "
        f"into the secret file {secret_file_name(table + '.password')}",
    )


def credential_warnings(settings: Settings) -> list[Problem]:
    """Usable but unsafe: credentials written into URLs (for `config check`)."""
    urls: list[tuple[str, str]] = []
    if settings.target.caldav is not None:
        cal = settings.target.caldav
        urls += [("target.caldav.url", cal.url)]
        urls += [(f"target.caldav.calendars.{who}", url) for who, url in cal.calendars.items()]
    if settings.target.exchange is not None and settings.target.exchange.endpoint:
        urls.append(("target.exchange.endpoint", settings.target.exchange.endpoint))
    found = [_url_credential_warning(dotted, url) for dotted, url in urls]
    return [p for p in found if p is not None]


def missing_password_problems(settings: Settings, files: ConfigFiles) -> list[Problem]:
    """A CalDAV username without a password from any source (for `config check`): names the
    secret file and the environment variable that would hold it."""
    cal = settings.target.caldav
    if settings.target.kind != "caldav" or cal is None or cal.username is None or cal.password is not None:
        return []
    if urlsplit(cal.url).password is not None:
        return []  # in the URL (warned about separately)
    name = "target.caldav.password"
    where = f"in {files.secrets_dir}" if files.secrets_dir else "(no secrets directory was found)"
    return [
        Problem(
            name,
            f"is missing: target.caldav.username is set, but there is no secret file "
            f"{secret_file_name(name)} {where} and no environment variable {env_name(name)}",
            f"put the password into the secret file {secret_file_name(name)} (secrets directory: "
            f"--secrets-dir, $KONTAKTSYNC_SECRETS_DIR, $CREDENTIALS_DIRECTORY or /run/secrets), "
            f"or set {env_name(name)}; or remove username if the server needs no login",
        )
    ]
