"""config.py: TOML -> frozen dataclasses; every error names the key and the file."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from anmeldung.config import (
    CONFIG_ENV,
    DatabaseConfig,
    EventConfig,
    MailboxConfig,
    OAuth2Config,
    ReportConfig,
    ScheduleConfig,
    SmtpConfig,
    load_config,
    resolve_config_path,
)
from anmeldung.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config.example.toml"

SECTIONS: dict[str, type] = {
    "event": EventConfig,
    "mailbox": MailboxConfig,
    "smtp": SmtpConfig,
    "database": DatabaseConfig,
    "schedule": ScheduleConfig,
    "report": ReportConfig,
}
# TOML key -> dataclass field where the two differ, and keys that feed one field.
TOML_KEY_FOR_FIELD = {"from_address": "from"}
PASSWORD_KEYS = ("password_env", "password_file")
# Fields that are a table of their own: [<section>.<field>], documented key by key.
NESTED: dict[str, type] = {"oauth2": OAuth2Config}
SECRET_KEYS = ("password", "client_secret", "refresh_token")

_BASE: dict[str, dict[str, str]] = {
    "event": {
        "name": '"Symposium Kommunale Finanzen 2027"',
        "starts": "2027-03-18T09:00:00+01:00",
        "ends": "2027-03-18T17:00:00+01:00",
        "venue": '"Altes Rathaus, Bonn"',
    },
    "mailbox": {
        "host": '"imap.stadt.example"',
        "port": "993",
        "username": '"Anmeldung@Stadt.Example"',
        "password": '"imap-geheim"',
    },
    "smtp": {
        "host": '"smtp.stadt.example"',
        "port": "587",
        "security": '"starttls"',
        "from": '"Stadt Bonn <Anmeldung@Stadt.Example>"',
    },
}


def toml_text(overrides: dict[str, dict[str, str | None]] | None = None, extra: str = "") -> str:
    """A minimal valid config; ``overrides[section][key]`` is a TOML literal, None removes it."""
    sections: dict[str, dict[str, str]] = {k: dict(v) for k, v in _BASE.items()}
    for section, values in (overrides or {}).items():
        target = sections.setdefault(section, {})
        for key, value in values.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {v}" for k, v in values.items())
        lines.append("")
    return "\n".join(lines) + extra


def write(
    tmp_path: Path,
    overrides: dict[str, dict[str, str | None]] | None = None,
    extra: str = "",
    name: str = "anmeldung.toml",
) -> Path:
    path = tmp_path / name
    path.write_text(toml_text(overrides, extra), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


# -- a valid file -------------------------------------------------------------------------------


def test_minimal_config_loads_with_defaults(tmp_path: Path) -> None:
    path = write(tmp_path)
    cfg = load_config(path)
    assert cfg.path == path
    assert cfg.event.name == "Symposium Kommunale Finanzen 2027"
    assert cfg.event.starts.utcoffset() is not None
    assert cfg.event.language == "de"
    assert cfg.event.capacity is None
    assert cfg.mailbox.security == "ssl"
    assert cfg.mailbox.port == 993
    assert cfg.mailbox.password.reveal() == "imap-geheim"
    assert cfg.mailbox.folder == "INBOX"
    assert cfg.smtp.from_address.display_name == "Stadt Bonn"
    assert cfg.smtp.from_address.domain == "Stadt.Example"
    assert cfg.smtp.password is None
    assert cfg.schedule.poll_seconds == 60
    assert cfg.report.recipients == ()
    assert cfg.warnings == ()


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.event = cfg.event  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.mailbox.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.smtp.host = "evil.example"  # type: ignore[misc]


def test_own_addresses_are_lower_case(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, {"smtp": {"reply_to": '"Team <Symposium@Stadt.Example>"'}}))
    assert cfg.own_addresses == frozenset({"anmeldung@stadt.example", "symposium@stadt.example"})


# -- config.example.toml ------------------------------------------------------------------------


@pytest.fixture
def example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in re.findall(r'password_env\s*=\s*"([^"]+)"', EXAMPLE.read_text(encoding="utf-8")):
        monkeypatch.setenv(name, f"secret-of-{name}")


@pytest.mark.usefixtures("example_env")
def test_example_config_loads() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.mailbox.password.reveal() == "secret-of-ANMELDUNG_IMAP_PASSWORD"
    assert cfg.smtp.password is not None
    assert cfg.smtp.password.reveal() == "secret-of-ANMELDUNG_SMTP_PASSWORD"
    assert cfg.database.url == f"sqlite:///{REPO.resolve() / 'anmeldung.db'}"


_KEY_LINE = re.compile(r"^\s*(?:#\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def _example_keys() -> list[tuple[int, str, str]]:
    """(line number, section, key) for every key line, also commented-out optional keys."""
    keys: list[tuple[int, str, str]] = []
    section = ""
    for number, line in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        # Also a commented-out table ("# [mailbox.oauth2]"): its keys belong to it.
        header = re.match(r"^\s*(?:#\s*)?\[([^\]]+)\]\s*$", line)
        if header:
            section = header.group(1)
            continue
        m = _KEY_LINE.match(line)
        if m and section:
            keys.append((number, section, m.group(1)))
    return keys


def test_example_config_has_a_comment_above_every_key() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    keys = _example_keys()
    assert len(keys) > 20  # the parser above really found the keys
    undocumented = []
    for number, section, key in keys:
        above = lines[number - 2].strip()
        # A comment that is not itself a commented-out key.
        if not above.startswith("#") or _KEY_LINE.match(above):
            undocumented.append(f"line {number}: [{section}] {key}")
    assert undocumented == []


def _missing_keys(present: set[tuple[str, str]], section: str, cls: type) -> list[str]:
    missing = []
    for f in dataclasses.fields(cls):
        key = TOML_KEY_FOR_FIELD.get(f.name, f.name)
        if key in NESTED:
            missing.extend(_missing_keys(present, f"{section}.{key}", NESTED[key]))
            continue
        if key in SECRET_KEYS:
            # Documented together: any one of the three spellings counts.
            if not any((section, k) in present for k in (key, f"{key}_env", f"{key}_file")):
                missing.append(f"[{section}] {key}")
            continue
        if (section, key) not in present:
            missing.append(f"[{section}] {key}")
    return missing


def test_example_config_mentions_every_key_the_dataclasses_accept() -> None:
    present = {(section, key) for _, section, key in _example_keys()}
    missing = []
    for section, cls in SECTIONS.items():
        missing.extend(_missing_keys(present, section, cls))
    assert missing == []


def test_example_config_keys_are_all_accepted(tmp_path: Path) -> None:
    """The commented-out optional keys, switched on, are valid too."""
    text = EXAMPLE.read_text(encoding="utf-8")
    enabled = re.sub(r"^#\s*(reply_to\s*=)", r"\1", text, flags=re.MULTILINE)
    assert enabled != text
    path = tmp_path / "anmeldung.toml"
    enabled = enabled.replace('password_env = "ANMELDUNG_IMAP_PASSWORD"', 'password = "a"')
    enabled = enabled.replace('password_env = "ANMELDUNG_SMTP_PASSWORD"', 'password = "b"')
    path.write_text(enabled, encoding="utf-8")
    cfg = load_config(path)
    assert cfg.smtp.reply_to is not None
    assert cfg.smtp.reply_to.addr_spec == "symposium@stadt.example"


def test_example_config_oauth2_tables_switched_on_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commented-out [mailbox.oauth2] and [smtp.oauth2] tables, switched on, are valid."""
    monkeypatch.setenv("ANMELDUNG_OAUTH2_CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("ANMELDUNG_OAUTH2_REFRESH_TOKEN", "refresh-token")
    text = EXAMPLE.read_text(encoding="utf-8")
    lines = []
    in_table = False
    for line in text.splitlines():
        if re.match(r"^#\s*\[(mailbox|smtp)\.oauth2\]$", line):
            in_table = True
        elif line.startswith("["):
            in_table = False
        if (in_table and _KEY_LINE.match(line)) or re.match(r"^#\s*\[\w+\.oauth2\]$", line):
            line = line.lstrip("# ")
        if re.match(r"^password_env\s*=", line):
            continue
        lines.append(line.replace('auth = "password"', 'auth = "oauth2"'))
    path = tmp_path / "anmeldung.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = load_config(path)
    for oauth2 in (cfg.mailbox.oauth2, cfg.smtp.oauth2):
        assert oauth2 is not None
        assert oauth2.token_url.startswith("https://login.microsoftonline.com/")
        assert oauth2.grant_type == "refresh_token"
        assert oauth2.client_secret is not None
        assert oauth2.client_secret.reveal() == "client-secret"
        assert oauth2.token_store == Path("/var/lib/anmeldung/anmeldung-oauth2.json")
    assert cfg.mailbox.password is None
    assert cfg.smtp.password is None


# -- errors name the key and the file -----------------------------------------------------------


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, {"mailbox": {"pasword": '"x"'}})
    msg = load_error(path)
    assert "pasword" in msg
    assert str(path) in msg
    assert "[mailbox]" in msg


def test_unknown_section_names_section_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, extra='\n[mailboxes]\nhost = "x"\n')
    msg = load_error(path)
    assert "mailboxes" in msg
    assert str(path) in msg


def test_missing_required_section(tmp_path: Path) -> None:
    path = tmp_path / "anmeldung.toml"
    path.write_text(toml_text().split("[smtp]")[0], encoding="utf-8")
    msg = load_error(path)
    assert "[smtp]" in msg
    assert str(path) in msg


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("mailbox", "port", '"993"'),
        ("mailbox", "port", "true"),
        ("mailbox", "port", "70000"),
        ("event", "capacity", "true"),
        ("event", "capacity", "0"),
        ("event", "starts", "2027-03-18T09:00:00"),
        ("event", "ends", "2027-03-18T08:00:00+01:00"),
        ("event", "language", '"fr"'),
        ("mailbox", "security", '"tls"'),
        ("smtp", "security", '"tls"'),
        ("smtp", "from", '"no address here"'),
        ("schedule", "timezone", '"Europe/Bonn"'),
        ("schedule", "daily_report", '"25:00"'),
        ("schedule", "poll_seconds", "0"),
        ("mailbox", "processed_folder", '"INBOX"'),
        ("report", "recipients", '["nobody"]'),
    ],
)
def test_wrong_value_names_key_and_file(tmp_path: Path, section: str, key: str, value: str) -> None:
    path = write(tmp_path, {section: {key: value}})
    msg = load_error(path)
    assert f"[{section}] {key}" in msg
    assert str(path) in msg


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nirgends.toml"
    msg = load_error(path)
    assert str(path) in msg


def test_invalid_toml_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "anmeldung.toml"
    path.write_text("[event\nname = ", encoding="utf-8")
    msg = load_error(path)
    assert str(path) in msg
    assert "TOML" in msg


# -- passwords ----------------------------------------------------------------------------------


def test_password_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_IMAP_PW", "aus-der-umgebung")
    path = write(tmp_path, {"mailbox": {"password": None, "password_env": '"TEST_IMAP_PW"'}})
    assert load_config(path).mailbox.password.reveal() == "aus-der-umgebung"


def test_password_env_missing_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_IMAP_PW_MISSING", raising=False)
    path = write(
        tmp_path, {"mailbox": {"password": None, "password_env": '"TEST_IMAP_PW_MISSING"'}}
    )
    msg = load_error(path)
    assert "TEST_IMAP_PW_MISSING" in msg
    assert "password_env" in msg
    assert str(path) in msg


def test_password_file_relative_to_config_with_newline_stripped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "imap.pw").write_text("datei-geheim\n", encoding="utf-8")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write(conf_dir, {"mailbox": {"password": None, "password_file": '"imap.pw"'}})
    assert load_config(path).mailbox.password.reveal() == "datei-geheim"


def test_password_file_unreadable_names_key(tmp_path: Path) -> None:
    path = write(tmp_path, {"mailbox": {"password": None, "password_file": '"fehlt.pw"'}})
    msg = load_error(path)
    assert "password_file" in msg
    assert "fehlt.pw" in msg


def test_two_password_sources_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, {"mailbox": {"password_env": '"X"'}})
    msg = load_error(path)
    assert "password" in msg
    assert "password_env" in msg
    assert str(path) in msg


def test_mailbox_password_is_required(tmp_path: Path) -> None:
    path = write(tmp_path, {"mailbox": {"password": None}})
    msg = load_error(path)
    assert "[mailbox] password" in msg


def test_smtp_username_needs_a_password(tmp_path: Path) -> None:
    path = write(tmp_path, {"smtp": {"username": '"u"'}})
    assert "[smtp] password" in load_error(path)


def test_secret_never_shows(tmp_path: Path) -> None:
    path = write(tmp_path, {"smtp": {"username": '"u"', "password": '"smtp-streng-geheim"'}})
    cfg = load_config(path)
    for text in (repr(cfg), str(cfg), repr(cfg.mailbox), str(cfg.smtp), repr(cfg.smtp.password)):
        assert "imap-geheim" not in text
        assert "smtp-streng-geheim" not in text
    assert cfg.smtp.password is not None
    assert cfg.smtp.password.reveal() == "smtp-streng-geheim"


# -- plain text warning -------------------------------------------------------------------------


def test_plain_text_to_remote_host_warns(tmp_path: Path) -> None:
    path = write(tmp_path, {"mailbox": {"security": '"none"', "port": "143"}})
    cfg = load_config(path)
    assert len(cfg.warnings) == 1
    assert "[mailbox]" in cfg.warnings[0]
    assert "imap.stadt.example" in cfg.warnings[0]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "LOCALHOST", "127.0.0.5"])
def test_plain_text_to_loopback_does_not_warn(tmp_path: Path, host: str) -> None:
    path = write(
        tmp_path,
        {
            "mailbox": {"security": '"none"', "host": f'"{host}"'},
            "smtp": {"security": '"none"', "host": f'"{host}"'},
        },
    )
    assert load_config(path).warnings == ()


# -- database URL -------------------------------------------------------------------------------


def test_relative_sqlite_url_is_anchored_at_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    monkeypatch.chdir(tmp_path)
    path = write(conf_dir, {"database": {"url": '"sqlite:///data/a.db"'}})
    cfg = load_config(Path("etc") / "anmeldung.toml")
    assert path.exists()
    assert cfg.database.url == f"sqlite:///{conf_dir.resolve() / 'data' / 'a.db'}"


def test_default_database_url_is_anchored_too(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path))
    assert cfg.database.url == f"sqlite:///{tmp_path.resolve() / 'anmeldung.db'}"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/anmeldung/anmeldung.db",
        "sqlite:///:memory:",
        "postgresql+psycopg://u:p@db.example/anmeldung",
    ],
)
def test_absolute_and_other_urls_are_untouched(tmp_path: Path, url: str) -> None:
    cfg = load_config(write(tmp_path, {"database": {"url": f'"{url}"'}}))
    assert cfg.database.url == url


# -- where the file is --------------------------------------------------------------------------


def test_resolve_config_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert resolve_config_path(None) == Path("anmeldung.toml")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "env.toml"))
    assert resolve_config_path(None) == tmp_path / "env.toml"
    assert resolve_config_path(tmp_path / "cli.toml") == tmp_path / "cli.toml"
    assert resolve_config_path(str(tmp_path / "cli.toml")) == tmp_path / "cli.toml"
