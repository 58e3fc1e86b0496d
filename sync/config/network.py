"""Whether credentials may travel to an address: plain http:// only to loopback, unless the
deployment allows it explicitly (`allow_insecure_http`). Used by the configuration checks and by
the targets before any request."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 and `localhost` (with or without a trailing dot)."""
    if not host:
        return False
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def insecure_http_problem(url: str | None, has_credentials: bool, allowed: bool, setting: str) -> str | None:
    """Why credentials must not go to `url`, or None: plain http:// to a host other than
    loopback, unless `setting` (…allow_insecure_http) is true."""
    if not url or not has_credentials or allowed:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or is_loopback(parts.hostname):
        return None
    return (
        f"credentials would travel unencrypted over plain http:// to {parts.hostname}; "
        f"use https://, or set {setting} = true if this network is trusted"
    )
