# Sourced by conformance/run.sh and conformance/fuzz.sh: starts the binary "$1" on a free
# loopback port with a fresh SQLite database and mail folder, and a bootstrap platform
# administrator with a random password, and waits until it answers /healthz. Sets `bin`,
# `repo`, `tmp`, `base_url`, `admin_email`, `admin_password`, `server_pid`; stops the server and
# removes `tmp` on exit.

if [ $# -ne 1 ]; then
  echo "usage: $0 PATH/TO/bf-security" >&2
  exit 2
fi
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$bin" ] || { echo "not an executable: $1" >&2; exit 2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d)
server_pid=

cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base_url=http://127.0.0.1:$port
admin_email=admin@example.com
admin_password=$(python3 -c 'import secrets; print("Adm-" + secrets.token_urlsafe(24))')
mkdir -p "$tmp/mail"

BF_BOOTSTRAP_EMAIL=$admin_email BF_BOOTSTRAP_PASSWORD=$admin_password BF_MAIL_DIR=$tmp/mail \
  "$bin" serve --listen "127.0.0.1:$port" --database-url "sqlite://$tmp/bf.db" >"$tmp/server.log" 2>&1 &
server_pid=$!

healthy() {
  python3 - "$base_url/healthz" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

deadline=$((SECONDS + 30))
until healthy; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "the server exited before answering on $base_url/healthz; its log:" >&2
    cat "$tmp/server.log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "the server did not answer 200 on $base_url/healthz within 30s; its log:" >&2
    cat "$tmp/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
