#!/usr/bin/env bash
# Install what the demo and the tests need: Debian's Dovecot (IMAP + LMTP) and a virtualenv
# with anmeldung and its test tools. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

need_dovecot=0
for bin in /usr/sbin/dovecot /usr/lib/dovecot/imap /usr/lib/dovecot/lmtp; do
  [ -x "$bin" ] || need_dovecot=1
done
if [ "$need_dovecot" = 1 ]; then
  echo "bootstrap: installing dovecot-imapd and dovecot-lmtpd from Debian" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      echo "bootstrap: need root (or sudo) to apt-get install dovecot-imapd dovecot-lmtpd" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d style: we never want the system-wide Dovecot service; tests start their own.
  $SUDO apt-get install -y -qq --no-install-recommends dovecot-imapd dovecot-lmtpd >/dev/null
  if command -v systemctl >/dev/null && systemctl is-active --quiet dovecot 2>/dev/null; then
    $SUDO systemctl stop dovecot || true
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
