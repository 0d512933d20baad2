"""anmeldung: registration by email for public events."""

__version__ = "0.1.0"
