"""Where the templates and migrations are, installed (inside the package) or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """``templates`` or ``migrations``: packaged copy first, then the source checkout's."""
    packaged = _PACKAGE / name
    if packaged.is_dir():
        return packaged
    checkout = _PACKAGE.parents[1] / name  # src/anmeldung -> repository root
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"cannot find the {name} folder (looked in {packaged} and {checkout})")
