"""A plain (non-editable) install carries the templates and migrations and works anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO


def test_wheel_carries_templates_and_migrations_and_runs_from_anywhere(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("anmeldung-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "anmeldung/templates/de/confirmation.txt.j2" in names
    assert "anmeldung/templates/en/confirmation.html.j2" in names
    assert "anmeldung/migrations/env.py" in names
    assert any(n.startswith("anmeldung/migrations/versions/0001") for n in names)

    # Install into a bare target dir (dependencies come from the test environment) and run it
    # from an unrelated directory, with the source checkout out of reach.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = elsewhere / "anmeldung.toml"
    config.write_text(
        """
[event]
name = "Test"
starts = 2027-03-18T09:00:00+01:00
ends = 2027-03-18T17:00:00+01:00
venue = "Rathaus"
[mailbox]
host = "127.0.0.1"
port = 143
security = "none"
username = "a@stadt.example"
password = "x"
[smtp]
host = "127.0.0.1"
port = 25
security = "none"
from = "Stadt <a@stadt.example>"
""",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ANMELDUNG_CONFIG")}
    env["PYTHONPATH"] = str(target)
    code = (
        "import sys, anmeldung, anmeldung.cli;"
        f"assert anmeldung.__file__.startswith({str(target)!r}), anmeldung.__file__;"
        "sys.exit(anmeldung.cli.main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "init"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "upgraded" in proc.stdout
    assert (elsewhere / "anmeldung.db").exists()
    preview = subprocess.run(
        [sys.executable, "-c", code, "parse", str(REPO / "examples" / "01-mueller-kaemmerei.eml")],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert preview.returncode == 0, preview.stderr
