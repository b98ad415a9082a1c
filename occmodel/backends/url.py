"""Store URLs: which real store a run drives, checked before anything connects.

`redis://HOST:PORT[/DB]` and `postgresql://[USER[:PASSWORD]@]HOST:PORT/DATABASE` (`postgres://`
too). Only loopback hosts are accepted (127.0.0.0/8, ::1, localhost): a run resets the keys or
the events table it works on and floods the store with conflicting transactions, which must
never reach a shared server by a typo. A password never reaches a results file: `shown` is the
URL without it.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError

SCHEMES = {"redis": "redis", "postgresql": "postgresql", "postgres": "postgresql"}
DEFAULT_PORTS = {"redis": 6379, "postgresql": 5432}
FORMS = "redis://HOST:PORT or postgresql://USER@HOST:PORT/DATABASE, on a loopback host (127.0.0.1, ::1, localhost)"


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL; `kind` is "redis" or "postgresql" whatever the scheme's spelling."""

    kind: str
    host: str
    port: int
    database: str          # redis: the db number as text ("0"); postgresql: the database name
    user: str | None = None
    password: str | None = None
    text: str = ""         # as given (may hold a password: never written anywhere)

    @property
    def shown(self) -> str:
        """The URL for messages and the manifest: no password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        who = f"{self.user}@" if self.user else ""
        return f"{self.kind}://{who}{host}:{self.port}/{self.database}"


def parse_url(text: str, option: str = "--store") -> StoreURL:
    """A `StoreURL` from `text`, or one `ConfigError` naming `option`, the URL and the allowed forms."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(option, text, f"expected a store URL: {FORMS}")
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(option, text, f"is not a URL ({exc}); expected {FORMS}") from None
    kind = SCHEMES.get(parts.scheme.lower())
    if kind is None:
        raise ConfigError(option, text, f"unknown scheme {parts.scheme!r}; expected {FORMS}")
    host = parts.hostname
    if not host:
        raise ConfigError(option, text, f"names no host; expected {FORMS}")
    if not loopback(host):
        raise ConfigError(option, text, f"host {host!r} is not a loopback address: occmodel drives only a store on "
                                        "this machine (127.0.0.1, ::1, localhost), since a run resets what it works on")
    if parts.query or parts.fragment:
        raise ConfigError(option, text, f"takes no ?query or #fragment; expected {FORMS}")
    path = unquote(parts.path.lstrip("/"))
    if kind == "redis":
        if parts.username or parts.password:
            raise ConfigError(option, text, "redis URLs here take no user or password (a local test server has none)")
        database = path or "0"
        if not database.isdigit() or int(database) > 15:
            raise ConfigError(option, text, f"redis database {database!r} must be a number 0..15")
    else:
        database = path
        if not database or "/" in database:
            raise ConfigError(option, text, f"names no database; expected {FORMS}")
    return StoreURL(kind, host, port or DEFAULT_PORTS[kind], database,
                    unquote(parts.username) if parts.username else None,
                    unquote(parts.password) if parts.password else None, text.strip())


def loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
