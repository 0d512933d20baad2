"""One exception root for everything anmeldung raises on purpose.

    AnmeldungError            anything the CLI reports as one clear line
    ├── ConfigError           the config file is missing, unreadable or wrong (names key and file)
    ├── MailboxError          the IMAP server cannot be reached, refuses the login or a command
    ├── SmtpError             the SMTP server cannot be reached or refuses the login
    ├── DatabaseError         the database cannot be opened or is not migrated
    ├── TemplateError         a template is missing or uses a variable we do not provide
    └── InputError            a command-line argument names something that does not exist

Library exceptions are wrapped where they enter (``raise MailboxError(...) from exc``) so the
CLI never prints a foreign traceback unless asked with ``--debug``.
"""

from __future__ import annotations


class AnmeldungError(Exception):
    """Root of every error anmeldung raises on purpose."""


class ConfigError(AnmeldungError):
    """The configuration is missing, unreadable or invalid."""


class MailboxError(AnmeldungError):
    """The mailbox (IMAP) is unusable."""


class SmtpError(AnmeldungError):
    """The SMTP server is unusable (connection or login); single sends fail softer."""


class DatabaseError(AnmeldungError):
    """The database cannot be opened, or is not at the newest revision."""


class TemplateError(AnmeldungError):
    """A mail template is missing or broken."""


class InputError(AnmeldungError):
    """A command-line argument is wrong (unknown id, address, format)."""
