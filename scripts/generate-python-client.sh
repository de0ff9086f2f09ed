#!/usr/bin/env bash
# Generates the Python client `billforward` from the server's OpenAPI document with
# OpenAPI Generator, and installs it into the virtualenv .generated/venv.
#
#   scripts/generate-python-client.sh [OPENAPI_URL_OR_FILE] [OUT_DIR]
#
# Defaults: http://127.0.0.1:8080/v1/openapi.json and .generated/python-client.
# The generator comes from PyPI (`openapi-generator-cli`, whose wheel carries the jar), so
# nothing but PyPI and Debian's packages is reached. Java comes from Debian when missing.
set -euo pipefail

GENERATOR_VERSION=7.26.0

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
spec=${1:-http://127.0.0.1:8080/v1/openapi.json}
out=${2:-$repo/.generated/python-client}
venv=${CONFORMANCE_VENV:-$repo/.generated/venv}

apt_install() {
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if ! command -v java >/dev/null 2>&1; then
  echo "java not found: installing default-jre-headless" >&2
  apt_install default-jre-headless
fi

if [ ! -x "$venv/bin/python" ]; then
  # Debian's own python3 needs python3-venv for this.
  python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; apt_install python3-venv; python3 -m venv "$venv"; }
fi
if ! "$venv/bin/python" -m pip show openapi-generator-cli 2>/dev/null | grep -qx "Version: $GENERATOR_VERSION"; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "openapi-generator-cli==$GENERATOR_VERSION"
fi

# A URL is fetched here, so a server that is down fails with a clear message rather than
# a Java stack trace, and the generator reads a local file.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case "$spec" in
  http://*|https://*)
    "$venv/bin/python" - "$spec" "$work/openapi.json" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as answer:
    data = answer.read()
with open(sys.argv[2], "wb") as f:
    f.write(data)
PY
    spec_file=$work/openapi.json
    ;;
  *)
    spec_file=$(cd "$(dirname "$spec")" && pwd)/$(basename "$spec")
    ;;
esac

rm -rf "$out"
mkdir -p "$(dirname "$out")"
# The document groups its operations under several tags (for the reader); the generator would
# make a class of each. The seed's clients know one, `SecurityApi`: the normalizer rule puts
# every operation in it.
"$venv/bin/openapi-generator-cli" generate \
  --generator-name python \
  --input-spec "$spec_file" \
  --output "$out" \
  --openapi-normalizer SET_TAGS_FOR_ALL_OPERATIONS=Security \
  --additional-properties packageName=billforward,projectName=billforward \
  >"$work/generate.log" 2>&1 || { cat "$work/generate.log" >&2; exit 1; }
grep -E '^\[main\] (WARN|ERROR)' "$work/generate.log" >&2 || true

# The client's dependencies (urllib3, pydantic, ...) are kept between runs; the client itself
# keeps its version number across generations, so it is reinstalled by force.
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$out"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$out"
echo "billforward client generated in $out and installed into $venv"
