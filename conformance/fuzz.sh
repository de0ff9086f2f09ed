#!/usr/bin/env bash
# Property-based fuzzing of the server's own OpenAPI document against the real server, with
# Schemathesis (from PyPI, into .generated/fuzz-venv).
#
#   conformance/fuzz.sh target/debug/bf-security
#
# Starts the binary on a fresh SQLite store (conformance/server.sh), then runs Schemathesis
# twice as the bootstrap platform administrator, who logs in for each run and again whenever
# his token is answered 401 (conformance/schemathesis.toml):
#
#   1. every operation but the two that can end his login: the revocation endpoint, and the
#      token endpoint (a spent refresh token presented again ends its family, and a pair from
#      generate-tokens joins the family of the login that asked for it); so this run keeps one
#      token throughout;
#   2. the OAuth endpoints with the operations whose answers carry tokens, linked to them;
#      here tokens are revoked and families ended on purpose, his own among them.
#
# Every check Schemathesis has, but those conformance/schemathesis.toml switches off with its
# reasons; conformance/fuzz_hooks.py says how the bodies the seed declares `*/*` are sent. Any
# finding fails the run.
# Bounded in time: CONFORMANCE_FUZZ_SECONDS (default 75) for the invalid and valid data of the first
# group, two thirds of it for its stateful sequences, a third of that for the second group;
# about three minutes in all. CONFORMANCE_FUZZ_SEED makes a run repeatable (Schemathesis prints its
# seed).
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5

venv=${CONFORMANCE_FUZZ_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.generated/fuzz-venv}
seconds=${CONFORMANCE_FUZZ_SECONDS:-75}
# shellcheck source=conformance/server.sh
source "$(dirname "${BASH_SOURCE[0]}")/server.sh"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || {
    rm -rf "$venv"
    sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  }
fi
if ! "$venv/bin/python" -m pip show schemathesis 2>/dev/null | grep -qx "Version: $SCHEMATHESIS_VERSION"; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

seed=()
[ -z "${CONFORMANCE_FUZZ_SEED:-}" ] || seed=(--seed "$CONFORMANCE_FUZZ_SEED")

fuzz() {
  local budget=$1
  shift
  CONFORMANCE_FUZZ_USERNAME=$admin_email CONFORMANCE_FUZZ_PASSWORD=$admin_password \
    SCHEMATHESIS_HOOKS="$repo/conformance/fuzz_hooks.py" "$venv/bin/st" \
    --config-file "$repo/conformance/schemathesis.toml" run "$base_url/v1/openapi.json" \
    --max-time "$budget" \
    "${seed[@]}" \
    "$@"
}

# Each group of operations is run twice: invalid and valid data, then stateful sequences that
# follow the document's links. Those draw valid data only: a link's body replaces the body
# drawn for the step, so a step drawn as invalid data is sent valid, and Schemathesis would
# report it as invalid data accepted.
group() {
  local budget=$1
  shift
  fuzz "$budget" --phases examples,coverage,fuzzing "$@" || status=$?
  fuzz $((budget * 2 / 3 + 1)) --phases stateful --mode positive "$@" || status=$?
}

status=0
echo "=== every operation but those that can end a login ==="
group "$seconds" --exclude-operation-id revokeToken --exclude-operation-id getToken
echo "=== the OAuth endpoints and the operations that issue tokens ==="
group $((seconds / 3 + 1)) \
  --include-operation-id revokeToken \
  --include-operation-id getToken \
  --include-operation-id getTemporaryApiTokens \
  --include-operation-id getPrivatePermanentApiToken \
  --include-operation-id refreshPermanentApiToken

if [ "$status" -ne 0 ]; then
  echo "--- server log (last 50 lines) ---" >&2
  tail -n 50 "$tmp/server.log" >&2
fi
exit "$status"
