"""Read the TOML config into frozen, typed dataclasses; every error names the key and the file."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import tomllib
import urllib.parse
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from .errors import ConfigError

Security = Literal["ssl", "starttls", "none"]
SECURITY_VALUES = ("ssl", "starttls", "none")
AuthMethod = Literal["password", "oauth2"]
AUTH_VALUES = ("password", "oauth2")
# Rotated OAuth2 refresh tokens are kept here unless [*.oauth2] token_store says otherwise.
DEFAULT_OAUTH2_STORE = "anmeldung-oauth2.json"
LANGUAGES = ("de", "en")
DEFAULT_CONFIG_NAME = "anmeldung.toml"
CONFIG_ENV = "ANMELDUNG_CONFIG"


@dataclass(frozen=True)
class Secret:
    """A password that never shows in a repr, a log line or a traceback."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        return self.value


@dataclass(frozen=True)
class EventConfig:
    name: str
    starts: dt.datetime
    ends: dt.datetime
    venue: str
    language: str = "de"
    capacity: int | None = None
    # False: people registered in one mail are seated together or wait together.
    split_groups: bool = False


@dataclass(frozen=True)
class OAuth2Config:
    """An OAuth2 client (RFC 6749) that gets access tokens for XOAUTH2 logins.

    With a refresh token it uses the refresh_token grant (section 6), else client_credentials
    (section 4.4). A refresh token the server hands back in exchange (rotation) is kept in
    ``token_store`` and used instead of the configured one from then on.
    """

    token_url: str
    client_id: str
    token_store: Path
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    scope: str | None = None

    @property
    def grant_type(self) -> str:
        return "refresh_token" if self.refresh_token is not None else "client_credentials"


@dataclass(frozen=True)
class MailboxConfig:
    host: str
    port: int
    security: Security
    username: str
    password: Secret | None
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    review_folder: str = "Review"
    # When set, every sent reply is also appended (flagged \Seen) to this folder.
    sent_folder: str | None = None
    batch_size: int = 100
    max_message_bytes: int = 25 * 1024 * 1024
    timeout_seconds: float = 60.0
    # RFC 2177: wait in IDLE where the server offers it; renew before servers' 30-minute cut.
    idle: bool = True
    idle_renew_seconds: int = 25 * 60
    # "password" (LOGIN) or "oauth2" (SASL XOAUTH2 with a token from the [mailbox.oauth2] client).
    auth: AuthMethod = "password"
    oauth2: OAuth2Config | None = None


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: Security
    from_address: Address
    username: str | None = None
    password: Secret | None = None
    reply_to: Address | None = None
    timeout_seconds: float = 60.0
    auth: AuthMethod = "password"
    oauth2: OAuth2Config | None = None


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///anmeldung.db"


@dataclass(frozen=True)
class ScheduleConfig:
    poll_seconds: int = 60
    daily_report: dt.time = dt.time(7, 30)
    timezone: str = "Europe/Berlin"
    misfire_grace_seconds: int = 300

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


@dataclass(frozen=True)
class ReportConfig:
    recipients: tuple[str, ...] = ()
    # Language of the organisers' daily summary ("de" or "en").
    language: str = "de"


@dataclass(frozen=True)
class LimitsConfig:
    """The loop fuse: caps on automatic replies, whatever the classifier thought."""

    replies_per_address_per_day: int = 3
    replies_per_hour: int = 300


@dataclass(frozen=True)
class PrivacyConfig:
    """Data protection (GDPR Art. 5(1)(e)): how long personal data outlives the event."""

    # Days after event.ends when the worker erases raw mail and personal data (database and
    # mail server); None keeps everything until `anmeldung purge` or `forget` is run by hand.
    delete_after_days: int | None = None


@dataclass(frozen=True)
class Config:
    event: EventConfig
    mailbox: MailboxConfig
    smtp: SmtpConfig
    database: DatabaseConfig
    schedule: ScheduleConfig
    report: ReportConfig
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    path: Path | None = None
    # Things that are allowed but worth saying (e.g. plain text to a remote server).
    warnings: tuple[str, ...] = ()

    @property
    def own_addresses(self) -> frozenset[str]:
        """Addresses that are ours: mail from them is never answered."""
        own = {self.smtp.from_address.addr_spec.lower()}
        if "@" in self.mailbox.username:
            own.add(self.mailbox.username.lower())
        if self.smtp.reply_to is not None:
            own.add(self.smtp.reply_to.addr_spec.lower())
        return frozenset(own)


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """``--config``, else ``$ANMELDUNG_CONFIG``, else ``./anmeldung.toml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path(DEFAULT_CONFIG_NAME)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate the config file at ``path``."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{p}: config file not found (copy config.example.toml to {DEFAULT_CONFIG_NAME}, "
            f"or pass --config / set ${CONFIG_ENV})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    return parse_config(data, p)


def parse_config(data: Mapping[str, Any], path: Path | None = None) -> Config:
    """Validate an already-parsed TOML document."""
    r = _Reader(data, path)
    warnings: list[str] = []
    r.only_sections(
        {"event", "mailbox", "smtp", "database", "schedule", "report", "limits", "privacy"},
        required={"event", "mailbox", "smtp"},
    )

    ev = r.section("event")
    starts = ev.get("starts", dt.datetime)
    ends = ev.get("ends", dt.datetime)
    for key, value in (("starts", starts), ("ends", ends)):
        if value.tzinfo is None:
            raise r.error("event", key, "needs a UTC offset, e.g. 2027-03-18T09:00:00+01:00")
    if ends <= starts:
        raise r.error("event", "ends", "must be after event.starts")
    language = ev.get("language", str, "de")
    if language not in LANGUAGES:
        raise r.error("event", "language", f"must be one of {', '.join(LANGUAGES)}")
    capacity = ev.get_optional("capacity", int)
    if capacity is not None and capacity < 1:
        raise r.error("event", "capacity", "must be at least 1 (leave it out for no limit)")
    event = EventConfig(
        name=ev.get_text("name"),
        starts=starts,
        ends=ends,
        venue=ev.get_text("venue"),
        language=language,
        capacity=capacity,
        split_groups=ev.get("split_groups", bool, False),
    )
    ev.done()

    db = r.section("database")
    url = db.get_text("url", "sqlite:///anmeldung.db")
    database = DatabaseConfig(url=_anchor_sqlite_url(url, path))
    db.done()
    store_dir = _token_store_dir(database.url, path)

    mb = r.section("mailbox")
    mb_host = mb.get_text("host")
    mb_security = mb.get_security()
    mb_auth = mb.get_auth()
    password = mb.get_password(required=mb_auth == "password")
    mb_oauth2 = mb.get_oauth2(mb_auth, store_dir)
    mailbox = MailboxConfig(
        host=mb_host,
        port=mb.get_port(),
        security=mb_security,
        username=mb.get_text("username"),
        password=password,
        folder=mb.get_text("folder", "INBOX"),
        processed_folder=mb.get_text("processed_folder", "Processed"),
        review_folder=mb.get_text("review_folder", "Review"),
        sent_folder=mb.get_optional_text("sent_folder"),
        batch_size=mb.get_positive_int("batch_size", 100),
        max_message_bytes=mb.get_positive_int("max_message_bytes", 25 * 1024 * 1024),
        timeout_seconds=mb.get_positive_float("timeout_seconds", 60.0),
        idle=mb.get("idle", bool, True),
        idle_renew_seconds=mb.get_positive_int("idle_renew_seconds", 25 * 60),
        auth=mb_auth,
        oauth2=mb_oauth2,
    )
    if mailbox.idle_renew_seconds > 29 * 60:
        raise r.error("mailbox", "idle_renew_seconds", "must be at most 1740 (RFC 2177: 29 min)")
    if len({mailbox.folder, mailbox.processed_folder, mailbox.review_folder}) != 3:
        raise r.error(
            "mailbox", "processed_folder", "folder, processed_folder and review_folder must differ"
        )
    if mailbox.sent_folder in (mailbox.folder, mailbox.processed_folder, mailbox.review_folder):
        raise r.error(
            "mailbox",
            "sent_folder",
            "must differ from folder, processed_folder and review_folder",
        )
    mb.done()
    _warn_plaintext(warnings, "mailbox", mailbox.host, mailbox.security)

    sm = r.section("smtp")
    sm_auth = sm.get_auth()
    sm_username = sm.get_optional("username", str)
    if sm_auth == "oauth2" and not sm_username:
        raise sm.error("username", 'is required with auth = "oauth2" (the XOAUTH2 user)')
    sm_password = sm.get_password(required=sm_username is not None and sm_auth == "password")
    sm_oauth2 = sm.get_oauth2(sm_auth, store_dir)
    smtp = SmtpConfig(
        host=sm.get_text("host"),
        port=sm.get_port(),
        security=sm.get_security(),
        username=sm_username,
        password=sm_password,
        from_address=_required(sm.get_address("from", required=True)),
        reply_to=sm.get_address("reply_to", required=False),
        timeout_seconds=sm.get_positive_float("timeout_seconds", 60.0),
        auth=sm_auth,
        oauth2=sm_oauth2,
    )
    sm.done()
    _warn_plaintext(warnings, "smtp", smtp.host, smtp.security)

    sc = r.section("schedule")
    tz_name = sc.get_text("timezone", "Europe/Berlin")
    try:
        zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise sc.error("timezone", f"unknown time zone {tz_name!r} (e.g. Europe/Berlin)") from None
    report_time = sc.get_text("daily_report", "07:30")
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", report_time)
    if not m:
        raise sc.error("daily_report", 'must be a time of day like "07:30"')
    schedule = ScheduleConfig(
        poll_seconds=sc.get_positive_int("poll_seconds", 60),
        daily_report=dt.time(int(m.group(1)), int(m.group(2))),
        timezone=tz_name,
        misfire_grace_seconds=sc.get_positive_int("misfire_grace_seconds", 300),
    )
    sc.done()

    rp = r.section("report")
    recipients = rp.get("recipients", list, [])
    for i, rcpt in enumerate(recipients):
        if not isinstance(rcpt, str) or "@" not in parseaddr(rcpt)[1]:
            raise rp.error("recipients", f"entry {i + 1} is not an email address: {rcpt!r}")
    report_language = rp.get("language", str, "de")
    if report_language not in LANGUAGES:
        raise rp.error("language", f"must be one of {', '.join(LANGUAGES)}")
    report = ReportConfig(recipients=tuple(cast(list[str], recipients)), language=report_language)
    rp.done()

    lm = r.section("limits")
    limits = LimitsConfig(
        replies_per_address_per_day=lm.get_positive_int("replies_per_address_per_day", 3),
        replies_per_hour=lm.get_positive_int("replies_per_hour", 300),
    )
    lm.done()

    pv = r.section("privacy")
    delete_after = pv.get_optional("delete_after_days", int)
    if delete_after is not None and delete_after < 0:
        raise pv.error("delete_after_days", "must be 0 or more (leave it out to keep the data)")
    privacy = PrivacyConfig(delete_after_days=delete_after)
    pv.done()

    return Config(
        event=event,
        mailbox=mailbox,
        smtp=smtp,
        database=database,
        schedule=schedule,
        report=report,
        limits=limits,
        privacy=privacy,
        path=path,
        warnings=tuple(warnings),
    )


def _required(value: Address | None) -> Address:
    assert value is not None  # get_address(required=True) raised otherwise
    return value


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_plaintext(warnings: list[str], section: str, host: str, security: str) -> None:
    if security == "none" and not is_loopback(host):
        warnings.append(
            f'[{section}] security = "none" sends the password in plain text to {host}; '
            "it is meant for loopback test servers only"
        )


def _anchor_sqlite_url(url: str, path: Path | None) -> str:
    """Make a relative SQLite path relative to the config file, not to the working directory.

    The service and a person at the terminal then open the same file wherever they start.
    """
    prefix = "sqlite:///"
    if path is None or not url.startswith(prefix):
        return url
    rest = url[len(prefix) :]
    if not rest or rest.startswith("/") or rest.startswith(":memory:") or rest.startswith("file:"):
        return url
    return prefix + str(path.parent.resolve() / rest)


def _token_store_dir(database_url: str, path: Path | None) -> Path:
    """Where rotated refresh tokens live by default: next to an SQLite database, else the config.

    The database directory is the one the service may write to (/var/lib/anmeldung); the config
    directory often is not (/etc/anmeldung).
    """
    prefix = "sqlite:///"
    rest = database_url[len(prefix) :] if database_url.startswith(prefix) else ""
    if rest.startswith("/"):
        return Path(rest.split("?", 1)[0]).parent
    if path is not None:
        return path.parent.resolve()
    return Path.cwd()


T = TypeVar("T")


class _Reader:
    def __init__(self, data: Mapping[str, Any], path: Path | None) -> None:
        self.data = data
        self.path = path

    def where(self) -> str:
        return str(self.path) if self.path else "<config>"

    def error(self, section: str, key: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.where()}: [{section}] {key}: {msg}")

    def only_sections(self, allowed: set[str], required: set[str]) -> None:
        for name, value in self.data.items():
            if name not in allowed:
                raise ConfigError(
                    f"{self.where()}: unknown section [{name}] "
                    f"(known: {', '.join(sorted(allowed))})"
                )
            if not isinstance(value, dict):
                raise ConfigError(f"{self.where()}: {name} must be a [table]")
        for name in sorted(required):
            if name not in self.data:
                raise ConfigError(f"{self.where()}: section [{name}] is missing")

    def section(self, name: str) -> _Section:
        return _Section(self, name, dict(self.data.get(name, {})))


class _Section:
    def __init__(self, reader: _Reader, name: str, values: dict[str, Any]) -> None:
        self.reader = reader
        self.name = name
        self.values = values
        self.seen: set[str] = set()

    def error(self, key: str, msg: str) -> ConfigError:
        return self.reader.error(self.name, key, msg)

    def _raw(self, key: str) -> Any:
        self.seen.add(key)
        return self.values.get(key)

    def get(self, key: str, typ: type[T], default: T | None = None) -> T:
        value = self._raw(key)
        if value is None:
            if default is None:
                raise self.error(key, "is required")
            return default
        return self._check(key, value, typ)

    def get_optional(self, key: str, typ: type[T]) -> T | None:
        value = self._raw(key)
        return None if value is None else self._check(key, value, typ)

    def _check(self, key: str, value: Any, typ: type[T]) -> T:
        ok = isinstance(value, typ)
        # TOML booleans are ints to Python; a port of `true` is still wrong.
        if typ in (int, float) and isinstance(value, bool):
            ok = False
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            return cast(T, float(value))
        if not ok:
            raise self.error(key, f"must be {_type_name(typ)}, not {_type_name(type(value))}")
        return cast(T, value)

    def get_text(self, key: str, default: str | None = None) -> str:
        value = self.get(key, str, default)
        if not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def get_optional_text(self, key: str) -> str | None:
        value = self.get_optional(key, str)
        if value is not None and not value.strip():
            raise self.error(key, "must not be empty (leave the key out instead)")
        return value

    def get_positive_int(self, key: str, default: int) -> int:
        value = self.get(key, int, default)
        if value < 1:
            raise self.error(key, "must be a positive whole number")
        return value

    def get_positive_float(self, key: str, default: float) -> float:
        value = self.get(key, float, default)
        if value <= 0:
            raise self.error(key, "must be positive")
        return value

    def get_port(self) -> int:
        port = self.get("port", int)
        if not 0 < port < 65536:
            raise self.error("port", "must be between 1 and 65535")
        return port

    def get_security(self) -> Security:
        value = self.get("security", str, "ssl")
        if value not in SECURITY_VALUES:
            raise self.error("security", f'must be one of "ssl", "starttls", "none", not {value!r}')
        return cast(Security, value)

    def get_address(self, key: str, *, required: bool) -> Address | None:
        value = self.get(key, str) if required else self.get_optional(key, str)
        if value is None:
            return None
        name, addr = parseaddr(value)
        if "@" not in addr or any(c in value for c in "\r\n"):
            raise self.error(
                key, f'must be an address like "Stadt Bonn <anmeldung@bonn.example>", not {value!r}'
            )
        username, _, domain = addr.rpartition("@")
        return Address(display_name=name, username=username, domain=domain)

    def get_password(self, *, required: bool) -> Secret | None:
        return self.get_secret("password", required=required)

    def get_secret(self, name: str, *, required: bool, why: str = "") -> Secret | None:
        """``name``, ``name_env`` (an environment variable) or ``name_file`` (a file)."""
        keys = (name, f"{name}_env", f"{name}_file")
        given = [k for k in keys if self._raw(k) is not None]
        if len(given) > 1:
            raise self.error(
                given[1],
                f"give only one of {', '.join(keys)} (found {', '.join(given)})",
            )
        if not given:
            if required:
                raise self.error(name, f"is required (or {keys[1]} / {keys[2]}){why}")
            return None
        key = given[0]
        value = self.get(key, str)
        if key == name:
            if not value and name != "password":
                raise self.error(key, "must not be empty")
            return Secret(value)
        if key == keys[1]:
            env = os.environ.get(value)
            if env is None:
                raise self.error(key, f"environment variable {value} is not set")
            return Secret(env)
        file = Path(value)
        if not file.is_absolute() and self.reader.path is not None:
            file = self.reader.path.parent / file
        try:
            # A trailing newline is how editors save files; it is never part of a password.
            return Secret(file.read_text(encoding="utf-8").rstrip("\r\n"))
        except OSError as exc:
            raise self.error(key, f"cannot read {file}: {exc.strerror}") from None

    def get_auth(self) -> AuthMethod:
        value = self.get("auth", str, "password")
        if value not in AUTH_VALUES:
            raise self.error("auth", f'must be "password" or "oauth2", not {value!r}')
        return cast(AuthMethod, value)

    def get_oauth2(self, auth: AuthMethod, store_dir: Path) -> OAuth2Config | None:
        """The ``[<section>.oauth2]`` table: needed with auth = "oauth2", an error otherwise."""
        table = self.get_optional("oauth2", dict)
        if auth == "password":
            if table is not None:
                raise self.error("oauth2", 'is only used with auth = "oauth2"')
            return None
        for key in ("password", "password_env", "password_file"):
            if self.values.get(key) is not None:
                raise self.error(key, 'is not used with auth = "oauth2" (leave it out)')
        if table is None:
            raise self.error(
                "oauth2",
                f'the table [{self.name}.oauth2] is missing (auth = "oauth2" needs its token_url, '
                "client_id, ...)",
            )
        sub = _Section(self.reader, f"{self.name}.oauth2", dict(table))
        token_url = sub.get_text("token_url")
        _check_token_url(sub, token_url)
        refresh_token = sub.get_secret("refresh_token", required=False)
        client_secret = sub.get_secret(
            "client_secret",
            required=refresh_token is None,
            why=" for the client_credentials grant (no refresh_token given)",
        )
        scope = sub.get_optional("scope", str)
        store_value = sub.get_optional("token_store", str)
        if store_value is not None and not store_value.strip():
            raise sub.error("token_store", "must not be empty")
        if store_value is None:
            store = store_dir / DEFAULT_OAUTH2_STORE
        else:
            store = Path(store_value).expanduser()
            if not store.is_absolute():
                base = self.reader.path.parent if self.reader.path is not None else Path.cwd()
                store = base.resolve() / store
        config = OAuth2Config(
            token_url=token_url,
            client_id=sub.get_text("client_id"),
            token_store=store,
            client_secret=client_secret,
            refresh_token=refresh_token,
            scope=(scope or "").strip() or None,
        )
        sub.done()
        return config

    def done(self) -> None:
        unknown = sorted(set(self.values) - self.seen)
        if unknown:
            known = ", ".join(sorted(self.seen))
            raise self.error(unknown[0], f"unknown key (known keys: {known})")


def _check_token_url(section: _Section, url: str) -> None:
    """https only, but for a loopback test server: the client secret travels in the request."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise section.error("token_url", f"must be an https:// URL, not {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise section.error(
            "token_url", "must use https:// (http:// is allowed for loopback test servers only)"
        )


def _type_name(typ: type[Any] | Callable[..., Any]) -> str:
    return {
        str: "a string",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
        dt.datetime: "a date-time with offset (e.g. 2027-03-18T09:00:00+01:00)",
        dt.date: "a date",
        dt.time: "a time",
    }.get(cast(type[Any], typ), getattr(typ, "__name__", str(typ)))
