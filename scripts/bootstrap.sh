#!/usr/bin/env bash
# Install what the demo and the tests need: Debian's Dovecot (IMAP + LMTP) and PostgreSQL, and a
# virtualenv with anmeldung and its test tools. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# Debian packages the tests need; each only when its binaries are missing.
packages=()
for bin in /usr/sbin/dovecot /usr/lib/dovecot/imap /usr/lib/dovecot/lmtp; do
  [ -x "$bin" ] || { packages+=(dovecot-imapd dovecot-lmtpd); break; }
done
# PostgreSQL: the database tests run against SQLite and a throwaway PostgreSQL server
# (anmeldung.devservers.PostgresServer needs initdb and postgres, from pg_config or Debian's
# /usr/lib/postgresql/*/bin).
have_pg=0
for dir in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then have_pg=1; break; fi
done
[ "$have_pg" = 1 ] || packages+=(postgresql)

if [ "${#packages[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${packages[*]} from Debian" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      echo "bootstrap: need root (or sudo) to apt-get install ${packages[*]}" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  # We never want the system-wide services; the tests start their own on loopback.
  if command -v systemctl >/dev/null && systemctl is-active --quiet dovecot 2>/dev/null; then
    $SUDO systemctl stop dovecot || true
  fi
  if command -v pg_lsclusters >/dev/null; then
    # The package creates and starts a "main" cluster; stop every cluster it left running.
    pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _port status _rest; do
      if [ "$status" = online ]; then
        $SUDO pg_ctlcluster "$version" "$cluster" stop || true
      fi
    done
  fi
fi

stamp="$VENV/.installed"
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV with $($PYTHON --version)" >&2
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing anmeldung and its test tools into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi
