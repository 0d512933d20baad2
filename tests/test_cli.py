"""cli.py in-process: help for every command, one-line errors, init/list/export/parse."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anmeldung.cli import cli, main
from anmeldung.config import CONFIG_ENV
from anmeldung.db import Database
from anmeldung.models import InboundMessage, Registration

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.eml"))
COMMANDS = sorted(cli.commands)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No config from the environment, a fresh cwd, and the root logger restored afterwards."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def write_config(directory: Path, *, extra_event: str = "", name: str = "anmeldung.toml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(
        f"""
[event]
name = "Symposium Kommunale Finanzen 2027"
starts = 2027-03-18T09:00:00+01:00
ends = 2027-03-18T17:00:00+01:00
venue = "Altes Rathaus, Bonn"
capacity = 100
{extra_event}
[mailbox]
host = "127.0.0.1"
port = 1143
security = "none"
username = "anmeldung@stadt.example"
password = "x"

[smtp]
host = "127.0.0.1"
port = 1025
security = "none"
from = "Stadt Bonn <anmeldung@stadt.example>"

[database]
url = "sqlite:///anmeldung.db"
""",
        encoding="utf-8",
    )
    return path


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("anmeldung: error: ")
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "etc")


@pytest.fixture
def initialised(config: Path) -> Path:
    result = invoke("--config", str(config), "init")
    assert result.exit_code == 0, result.output
    return config


# -- help and documentation ----------------------------------------------------------------------


def test_group_help() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert result.output.startswith("Usage:")
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name: str) -> None:
    command = cli.commands[name]
    first_line = (command.help or "").strip().splitlines()[0] if command.help else ""
    assert first_line.strip(), f"{name} has no help text"
    result = invoke(name, "--help")
    assert result.exit_code == 0
    assert f"Usage: cli {name}" in result.output or f"Usage: anmeldung {name}" in result.output
    assert first_line.strip() in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_in_the_readme(name: str) -> None:
    assert f"anmeldung {name}" in (REPO / "README.md").read_text(encoding="utf-8")


def test_main_returns_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "Usage:" in capsys.readouterr().out
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err
    assert main(["list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("anmeldung: error: ")
    assert "anmeldung.toml" in err


def test_version() -> None:
    from anmeldung import __version__

    result = invoke("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


# -- config errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["init", "list", "export --format json", "poll"])
def test_missing_config_is_one_line(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere" / "anmeldung.toml"
    line = one_error_line(invoke("--config", str(missing), *command.split()))
    assert str(missing) in line


def test_default_config_path_is_named(tmp_path: Path) -> None:
    line = one_error_line(invoke("list"))
    assert "anmeldung.toml" in line


def test_unknown_key_is_one_line_naming_key_and_file(tmp_path: Path) -> None:
    path = write_config(tmp_path / "etc", extra_event='farbe = "blau"\n')
    line = one_error_line(invoke("--config", str(path), "init"))
    assert "farbe" in line
    assert str(path) in line
    assert not (tmp_path / "etc" / "anmeldung.db").exists()


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    from anmeldung.errors import ConfigError

    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError):
        CliRunner().invoke(
            cli, ["--debug", "--config", str(missing), "list"], catch_exceptions=False
        )


def test_config_option_beats_the_environment(tmp_path: Path) -> None:
    good = write_config(tmp_path / "good")
    bad = write_config(tmp_path / "bad", extra_event="unbekannt = 1\n")
    result = invoke("--config", str(good), "init", env={CONFIG_ENV: str(bad)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "good" / "anmeldung.db").exists()
    line = one_error_line(invoke("init", env={CONFIG_ENV: str(bad)}))
    assert str(bad) in line
    assert "unbekannt" in line


def test_environment_beats_the_working_directory(tmp_path: Path) -> None:
    write_config(tmp_path, extra_event="im_cwd = 1\n")  # ./anmeldung.toml, broken
    good = write_config(tmp_path / "env")
    result = invoke("init", env={CONFIG_ENV: str(good)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env" / "anmeldung.db").exists()
    line = one_error_line(invoke("init"))
    assert "im_cwd" in line


# -- database commands --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", ["list", "list --json", "export --format json", "export --format csv", "messages"]
)
def test_uninitialised_database_says_run_init(config: Path, command: str) -> None:
    line = one_error_line(invoke("--config", str(config), *command.split()))
    assert "anmeldung init" in line


def test_init_twice(config: Path) -> None:
    first = invoke("--config", str(config), "init")
    assert first.exit_code == 0, first.output
    assert "upgraded from empty" in first.output
    # Relative SQLite URL: next to the config file, not in the working directory.
    assert (config.parent / "anmeldung.db").exists()
    assert not (Path.cwd() / "anmeldung.db").exists()
    second = invoke("--config", str(config), "init")
    assert second.exit_code == 0, second.output
    assert "up to date" in second.output


def test_export_json_on_empty_database(initialised: Path) -> None:
    result = invoke("--config", str(initialised), "export", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert result.stdout.strip() == "[]"


def test_export_csv_on_empty_database(initialised: Path) -> None:
    result = invoke("--config", str(initialised), "export", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("\ufeff")
    header = next(csv.reader(io.StringIO(result.stdout.removeprefix("\ufeff"))))
    wanted = "id,email,name,title,organisation,status,registered_at,confirmation_sent_at,message_id"
    for column in wanted.split(","):
        assert column in header
    assert result.stdout.count("\n") == 1


def _add_registration(config: Path) -> None:
    db = Database(f"sqlite:///{config.parent / 'anmeldung.db'}")
    with db.transaction() as s:
        msg = InboundMessage(
            mailbox="import", message_key="orig@koeln.example", message_id="orig@koeln.example"
        )
        s.add(msg)
        s.flush()
        s.add(
            Registration(
                email="j.mueller@koeln.example",
                contact_email="j.mueller@koeln.example",
                name="Jürgen Müller",
                title="Dr.",
                organisation="Kämmerei; Köln",
                registered_at=dt.datetime(2027, 1, 5, 8, 30, tzinfo=dt.UTC),
                message_pk=msg.id,
            )
        )
    db.dispose()


def test_export_with_a_registration(initialised: Path, tmp_path: Path) -> None:
    _add_registration(initialised)
    as_json = invoke("--config", str(initialised), "export", "--format", "json")
    (row,) = json.loads(as_json.stdout)
    assert row["name"] == "Jürgen Müller"
    assert row["registered_at"] == "2027-01-05T08:30:00Z"
    assert row["message_id"] == "orig@koeln.example"
    assert row["confirmation_sent_at"] is None

    out = tmp_path / "teilnehmer.csv"
    result = invoke(
        "--config",
        str(initialised),
        "export",
        "--format",
        "csv",
        "--delimiter",
        ";",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "1 registration" in result.stderr
    data = out.read_bytes()
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0]["organisation"] == "Kämmerei; Köln"
    assert rows[0]["email"] == "j.mueller@koeln.example"
    assert b"\r\n" in data


def test_export_rejects_a_long_delimiter(initialised: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(initialised), "export", "--format", "csv", "--delimiter", ";;"]
    )
    assert result.exit_code == 2
    assert "--delimiter" in result.output


def test_list_shows_registrations(initialised: Path) -> None:
    _add_registration(initialised)
    as_json = invoke("--config", str(initialised), "list", "--json")
    assert [r["email"] for r in json.loads(as_json.stdout)] == ["j.mueller@koeln.example"]
    filtered = invoke("--config", str(initialised), "list", "--json", "--search", "nobody")
    assert json.loads(filtered.stdout) == []
    table = invoke("--config", str(initialised), "list")
    assert table.exit_code == 0, table.output
    assert "Jürgen Müller" in table.stdout
    assert "1 confirmed of 100 places" in table.stdout


def test_list_shows_strangers_markup_as_text(initialised: Path) -> None:
    """rich reads "[/]" as a closing tag (the whole table failed with MarkupError) and
    "[link=…]" as a terminal hyperlink: values from mail are printed as they are."""
    db = Database(f"sqlite:///{initialised.parent / 'anmeldung.db'}")
    with db.transaction() as s:
        s.add(
            Registration(
                email="eva@x.example",
                contact_email="eva@x.example",
                name="Eva [bold]Klein[/]",
                organisation="Stadt [/] Bonn [link=http://evil.example]klick[/link]",
                registered_at=dt.datetime(2027, 1, 5, 8, 30, tzinfo=dt.UTC),
            )
        )
    db.dispose()
    table = invoke("--config", str(initialised), "list")
    assert table.exit_code == 0, table.output
    flat = " ".join(table.stdout.split())
    assert "Eva [bold]Klein[/]" in flat
    assert "[link=http://evil.example]klick[/link]" in flat.replace(" ", "")
    assert "\x1b]8;" not in table.stdout  # no OSC 8 hyperlink


def test_list_pages_in_registration_order(initialised: Path) -> None:
    db = Database(f"sqlite:///{initialised.parent / 'anmeldung.db'}")
    with db.transaction() as s:
        for i in range(5):
            s.add(
                Registration(
                    email=f"p{i}@koeln.example",
                    contact_email=f"p{i}@koeln.example",
                    name=f"Person {i}",
                    # Inserted newest first: the pages follow the registration time.
                    registered_at=dt.datetime(2027, 1, 10 - i, 8, 30, tzinfo=dt.UTC),
                )
            )
    db.dispose()
    args = ("--config", str(initialised), "list", "--json", "--page-size", "2")

    def page(n: int) -> list[str]:
        return [r["email"] for r in json.loads(invoke(*args, "--page", str(n)).stdout)]

    assert page(1) == ["p4@koeln.example", "p3@koeln.example"]
    assert page(3) == ["p0@koeln.example"]
    assert page(4) == []
    table = invoke("--config", str(initialised), "list", "--page", "2", "--page-size", "2")
    assert table.exit_code == 0, table.output
    assert "Person 2" in table.stdout
    assert "Person 4" not in table.stdout
    assert "page 2 (rows 3-4; --page 3 for the next 2)" in table.stdout
    assert "5 confirmed" in table.stdout  # the totals count every row, not the page


# -- parse --------------------------------------------------------------------------------------


def test_parse_json_without_config() -> None:
    assert EXAMPLES, "examples/*.eml missing"
    result = invoke("parse", "--json", *map(str, EXAMPLES))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [Path(r["file"]).name for r in out] == [p.name for p in EXAMPLES]
    for r in out:
        assert set(r) >= {"file", "kind", "reason", "attendees", "bounced", "language"}
        assert r["kind"] == "registration", r
        assert r["reason"]
        assert r["language"] in ("de", "en")
        assert isinstance(r["bounced"], list)
        assert r["attendees"], r
        for a in r["attendees"]:
            assert a["email"] == a["email"].lower()
            assert "@" in a["email"]
    by_name = {Path(r["file"]).name: r for r in out}
    assert by_name["05-yildiz-english.eml"]["language"] == "en"
    assert by_name["01-mueller-kaemmerei.eml"]["language"] == "de"
    assert "Müller" in by_name["01-mueller-kaemmerei.eml"]["attendees"][0]["name"]


def test_parse_text_output() -> None:
    result = invoke("parse", str(EXAMPLES[0]))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{EXAMPLES[0]}: registration (")
    assert "<j.mueller@" in result.stdout


def test_parse_with_explicit_broken_config_is_an_error(tmp_path: Path) -> None:
    bad = write_config(tmp_path / "bad", extra_event="kaputt = 1\n")
    line = one_error_line(invoke("--config", str(bad), "parse", str(EXAMPLES[0])))
    assert "kaputt" in line


def test_parse_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["parse", str(tmp_path / "nope.eml")])
    assert result.exit_code == 2
    assert "nope.eml" in result.output


def test_parse_uses_our_addresses_from_the_config(tmp_path: Path) -> None:
    config = write_config(tmp_path / "etc")
    own = tmp_path / "own.eml"
    own.write_bytes(
        b"From: Stadt Bonn <anmeldung@stadt.example>\r\nTo: anmeldung@stadt.example\r\n"
        b"Subject: Anmeldung\r\nMessage-ID: <own@stadt.example>\r\n\r\n"
        b"Hiermit melde ich mich an.\r\n"
    )
    without = json.loads(invoke("parse", "--json", str(own)).stdout)[0]
    with_config = json.loads(invoke("--config", str(config), "parse", "--json", str(own)).stdout)[0]
    assert without["attendees"] != []  # without config nothing is known to be ours
    assert with_config["kind"] != "registration"  # with it, our own mail is never answered
    assert with_config["attendees"] == []


def test_accuracy_over_several_folders(tmp_path: Path) -> None:
    """Each folder on its own line, then all together: counts add up, failures name the folder."""
    here = Path(__file__).parent
    one = invoke("accuracy", str(here / "heldout2"), "--json")
    two = invoke("accuracy", str(here / "heldout3"), "--json")
    both = invoke("accuracy", str(here / "heldout2"), str(here / "heldout3"), "--json")
    assert both.exit_code == 0, both.output
    a, b, ab = (json.loads(r.stdout) for r in (one, two, both))
    assert ab["messages"] == a["messages"] + b["messages"] == 70
    for fld, counts in ab["fields"].items():
        assert counts["right"] == a["fields"][fld]["right"] + b["fields"][fld]["right"]
        assert counts["total"] == a["fields"][fld]["total"] + b["fields"][fld]["total"]
    assert ab["folders"]["heldout2"]["fields"] == a["fields"]
    assert "failures" not in ab["folders"]["heldout3"]
    assert all(f["file"].startswith(("heldout2/", "heldout3/")) for f in ab["failures"])
    assert len(ab["failures"]) == len(a["failures"]) + len(b["failures"])

    table = invoke("accuracy", str(here / "heldout2"), str(here / "heldout3"))
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["folder", "msgs", "kind"]
    assert lines[1].split()[:2] == ["heldout2", "30"]
    assert lines[3].split()[:2] == ["all", "70"]
    assert "70 messages" in table.stdout
