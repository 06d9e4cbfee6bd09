#!/usr/bin/env bash
# Contract fuzzing: schemathesis generates requests from docs/openapi.json
# (valid and invalid ones), sends them to a live taskapi with a bearer
# token, and checks every response against the document (status codes,
# headers, schemas, content types, no 5xx, auth enforced...).
#
#   bash tests/contract/run.sh          (after `cargo build`)
#
# Installs schemathesis, pinned in requirements.txt, into a virtualenv under
# target/ on first use. Bounded: fixed seed, a fixed number of examples per
# operation, and a time budget. Stops the server it starts.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh

venv=target/contract-venv
python_venv "$venv" tests/contract/requirements.txt schemathesis

work=$(mktemp -d)
cleanup() {
  stop_taskapi
  rm -rf "$work"
}
trap cleanup EXIT

# High login limits: schemathesis sends many wrong passwords on purpose.
start_taskapi "$work" \
  --login-max-failures 1000000 --login-max-failures-per-address 1000000
base=$taskapi_base

token=$(curl -sf -X POST "$base/auth/register" -H 'Content-Type: application/json' \
  -d '{"username": "contract", "password": "contract-password"}' \
  | sed 's/.*"access_token":"\([^"]*\)".*/\1/')

# Operations that end the token's validity (logout, password change,
# account deletion) would turn every later request into a 401; they are
# covered by the integration tests instead.
"$venv/bin/schemathesis" --config-file tests/contract/schemathesis.toml \
  run "$base/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --seed 20261122 \
  --max-examples "${CONTRACT_EXAMPLES:-15}" \
  --max-time "${CONTRACT_MAX_SECONDS:-120}" \
  --exclude-operation-id logout \
  --exclude-operation-id changePassword \
  --exclude-operation-id deleteMe \
  --no-color
