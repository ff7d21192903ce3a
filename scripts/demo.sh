#!/usr/bin/env bash
# The main job on the embedded sandbox, step by step (run by `make demo` after install).
set -euo pipefail
cd "$(dirname "$0")/.."
okta_aws=".venv/bin/okta-aws"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "validate the desired state"
"$okta_aws" validate -d desired-state

step "who may assume which role (desired state)"
"$okta_aws" access -d desired-state
