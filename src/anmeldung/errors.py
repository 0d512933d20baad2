"""One exception root for everything anmeldung raises on purpose.

    AnmeldungError            anything the CLI reports as one clear line
    ├── ConfigError           the config file is missing, unreadable or wrong (names key and file)
    ├── MailboxError          the IMAP server cannot be reached, refuses the login or a command
    │   └── MailboxLoginError     ... refuses the login (also: AuthError)
    ├── SmtpError             the SMTP server cannot be reached or refuses the login
    │   └── SmtpLoginError        ... refuses the login (also: AuthError)
    ├── AuthError             a login failed: wrong credentials or no OAuth2 access token
    │   └── OAuthError            the OAuth2 token endpoint cannot be reached or refuses us
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


class AuthError(AnmeldungError):
    """A login failed (credentials refused, or no OAuth2 token to log in with).

    These are logged once where they happen (see ``oauth.LoginLog``); callers that retry on a
    schedule log repeats at debug level only.
    """


class OAuthError(AuthError):
    """The OAuth2 token endpoint cannot be reached or refuses the grant; never shows a secret."""


class MailboxLoginError(MailboxError, AuthError):
    """The IMAP server refused the login (password or XOAUTH2), or no token could be had."""


class SmtpLoginError(SmtpError, AuthError):
    """The SMTP server refused the login (password or XOAUTH2), or no token could be had."""


class DatabaseError(AnmeldungError):
    """The database cannot be opened, or is not at the newest revision."""


class TemplateError(AnmeldungError):
    """A mail template is missing or broken."""


class InputError(AnmeldungError):
    """A command-line argument is wrong (unknown id, address, format)."""
