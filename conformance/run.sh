#!/usr/bin/env bash
# Runs the seed's examples against a real server through a client generated from its own
# OpenAPI document.
#
#   conformance/run.sh target/debug/bf-security
#
# Starts the binary on a free loopback port with a fresh SQLite database and mail folder,
# generates and installs the Python client (scripts/generate-python-client.sh), runs
# conformance/test_seed_examples.py, stops the server, and exits with the test's status.
set -euo pipefail

venv=${CONFORMANCE_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.generated/venv}
# shellcheck source=conformance/server.sh
source "$(dirname "${BASH_SOURCE[0]}")/server.sh"

CONFORMANCE_VENV=$venv "$repo/scripts/generate-python-client.sh" "$base_url/v1/openapi.json"

status=0
CONFORMANCE_BASE_URL=$base_url CONFORMANCE_ADMIN_EMAIL=$admin_email CONFORMANCE_ADMIN_PASSWORD=$admin_password CONFORMANCE_MAIL_DIR=$tmp/mail \
  "$venv/bin/python" "$repo/conformance/test_seed_examples.py" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (last 100 lines) ---" >&2
  tail -n 100 "$tmp/server.log" >&2
fi
exit "$status"
