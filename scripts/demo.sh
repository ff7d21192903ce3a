#!/usr/bin/env bash
# The main job on the embedded sandbox, step by step (run by `make demo` after install):
# a brownfield world → import it as a desired state (adopting an existing setup) → plan
# → apply → Okta imports the directory → apply → plan is empty → who can assume what,
# live → import the converged world: its plan is empty too.
set -euo pipefail
cd "$(dirname "$0")/.."
okta_aws=".venv/bin/okta-aws"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. validate the desired state (desired-state/*.yaml)"
"$okta_aws" validate

step "2. reset the sandbox to a brownfield world (moto AWS accounts, Okta emulator, directory)"
"$okta_aws" sandbox reset
"$okta_aws" sandbox show

step "2b. import: write the brownfield as a desired-state folder, then plan it"
# What an org adopting okta-aws runs first: the folder says what is live; the findings
# say what the model cannot express, and are exactly what the plan of that folder changes.
imported="$(mktemp -d)/imported"
trap 'rm -rf "$(dirname "$imported")"' EXIT
"$okta_aws" import --out "$imported"
ls -R "$imported"
"$okta_aws" plan -d "$imported" | tail -n 12

step "3. plan: what would change, and who gains or loses which role"
"$okta_aws" plan

step "4. apply: converge AWS, the directory and Okta"
"$okta_aws" apply --auto-approve

step "5. Okta's AD agent imports the directory (here: the emulator's import, on demand)"
"$okta_aws" sandbox import

step "6. apply again: assign the management groups Okta has now imported"
"$okta_aws" apply --auto-approve

step "7. plan again: nothing left to do (exit 0 with --detailed-exitcode)"
"$okta_aws" plan --detailed-exitcode

step "8. who can assume which role, as Okta and AWS have it now"
"$okta_aws" access --live

step "9. import the converged world: the written folder plans to nothing (exit 0)"
rm -rf "$imported"
"$okta_aws" import --out "$imported"
"$okta_aws" plan -d "$imported" --detailed-exitcode | tail -n 3
