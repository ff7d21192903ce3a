#!/usr/bin/env bash
# `make mutate`: mutation testing of the core rules with cosmic-ray, on demand (not in CI).
#
# Each module below is mutated one small change at a time (an operator flipped, a
# constant changed, a condition negated, ...) and its unit tests run against every
# mutant; a mutant the tests still pass ("survived") is a rule no test pins down. The
# work happens in a copy of the working tree (cosmic-ray rewrites files on disk), so the
# shared tree is never touched. Usage: `make mutate` (all modules) or
# `MODULES="engine/order.py" SAMPLE=2 make mutate`; `RERUN=1` after adding tests. Mutants
# that can never be killed are skipped first (scripts/mutate_filter.py). Figures and
# every survivor's fate: tests/README.md ("Mutation testing").
set -euo pipefail

# the machine is shared: everything below (init, baseline, each mutant's tests) yields
renice -n 19 -p $$ >/dev/null 2>&1 || true

repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON_BIN:-$repo/.venv/bin/python}"
bin="$(dirname "$python")"
out="${MUTATE_OUT:-$repo/.mutate}"

# module → the unit tests that own its rules (run per mutant, first failure kills it)
declare -A tests=(
  [engine/diff.py]="tests/unit/test_diff_plan.py tests/unit/test_diff_aws.py tests/unit/test_diff_rogue.py tests/unit/test_front_door.py tests/unit/test_safety_properties.py tests/unit/test_diff_properties.py"
  [engine/diff_aws.py]="tests/unit/test_diff_aws.py tests/unit/test_front_door.py tests/unit/test_safety_properties.py tests/unit/test_diff_properties.py"
  [engine/diff_common.py]="tests/unit/test_diff_aws.py tests/unit/test_diff_directory.py tests/unit/test_diff_okta.py tests/unit/test_diff_plan.py tests/unit/test_safety_properties.py tests/unit/test_diff_properties.py"
  [engine/diff_directory.py]="tests/unit/test_diff_directory.py tests/unit/test_diff_properties.py"
  [engine/diff_okta.py]="tests/unit/test_diff_okta.py tests/unit/test_diff_properties.py"
  [engine/diff_rogue.py]="tests/unit/test_diff_rogue.py tests/unit/test_diff_plan.py tests/unit/test_diff_properties.py"
  [engine/protection.py]="tests/unit/test_diff_plan.py tests/unit/test_diff_directory.py tests/unit/test_safety_properties.py tests/unit/test_diff_properties.py"
  [engine/order.py]="tests/unit/test_order.py tests/unit/test_front_door.py tests/unit/test_safety_properties.py"
  [engine/access.py]="tests/unit/test_access.py tests/unit/test_diff_properties.py"
  [engine/saved_plan.py]="tests/unit/test_saved_plan.py"
  [engine/validate.py]="tests/unit/test_validate.py tests/unit/test_safety_properties.py"
  [engine/validate_names.py]="tests/unit/test_validate_names.py tests/unit/test_validate.py"
)
modules="${MODULES:-engine/saved_plan.py engine/access.py engine/diff_common.py engine/diff.py engine/validate.py engine/diff_rogue.py engine/protection.py engine/order.py engine/diff_aws.py engine/diff_directory.py engine/diff_okta.py engine/validate_names.py}"
# SAMPLE=k runs every k-th mutant only (deterministic, scripts/mutate_filter.py;
# SAMPLE_OFFSET=j the j-th of each k);
# TIMEOUT bounds one mutant's test run (a mutant that loops forever counts as killed).
# RERUN=1 runs again only the survivors of the last run ($out/<module>.sqlite), on the
# module's source as it was then ($out/<module>.py), to confirm new tests kill them.
sample="${SAMPLE:-1}"
offset="${SAMPLE_OFFSET:-0}"  # 0..SAMPLE-1: which of each SAMPLE mutants
timeout="${TIMEOUT:-120}"

work="$(mktemp -d -t okta-aws-mutate-XXXXXX)"
trap 'rm -rf "$work"' EXIT
# tracked files and new ones not ignored yet (a test may import a helper not yet added);
# a tracked file deleted in the tree is simply not copied
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
  | xargs -0 cp --parents -t "$work" 2>/dev/null) || true
mkdir -p "$out"
cd "$work"
export PYTHONPATH="$work" OKTA_AWS_HYPOTHESIS_PROFILE=mutate PYTHONDONTWRITEBYTECODE=1

baseline() {  # the unmutated tree must pass the tests, or every mutant would count as killed
  "$bin/cosmic-ray" baseline "$1.toml" >"$out/$1.baseline" 2>&1 \
    || { echo "baseline failed (tests fail without any mutant): $out/$1.baseline" >&2; exit 1; }
}

for module in $modules; do
  selected="${tests[$module]:?no tests listed for $module in scripts/mutate.sh}"
  name="$(basename "$module" .py)"
  # tests written to kill this module's survivors run first: they are quick and pointed
  if [[ -f "tests/unit/test_mutants_$name.py" ]]; then
    selected="tests/unit/test_mutants_$name.py $selected"
  fi
  if [[ "$offset" != 0 ]]; then
    name="$name.$offset"  # another slice of the same module: its own reports
  fi
  cat >"$name.toml" <<TOML
[cosmic-ray]
module-path = "$module"
timeout = $timeout.0
excluded-modules = []
test-command = "$python -m pytest -x -q -p no:cacheprovider $selected"

[cosmic-ray.distributor]
name = "local"
TOML
  echo "== $module (tests: $selected)"
  if [[ "${RERUN:-}" == 1 ]]; then
    cp "$out/$name.py" "$module"
    cp "$out/$name.sqlite" "$name.sqlite"
    "$python" - "$name.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'").rowcount
print(n, "survivors to re-run")
db.commit()
PY
    baseline "$name"
    "$bin/cosmic-ray" exec "$name.toml" "$name.sqlite"
    mv "$name.sqlite" "$name.rerun.sqlite"
    name="$name.rerun"
    cp "$name.sqlite" "$out/$name.sqlite"
  else
    "$bin/cosmic-ray" init "$name.toml" "$name.sqlite"
    baseline "$name"
    "$python" "$repo/scripts/mutate_filter.py" --sample "$sample" --offset "$offset" \
      "$name.sqlite" "$module" \
      | tee "$out/$name.filter"
    cp "$module" "$out/$name.py"
    "$bin/cosmic-ray" exec "$name.toml" "$name.sqlite"
    cp "$name.sqlite" "$out/$name.sqlite"
  fi
  "$bin/cr-report" --show-diff --surviving-only "$name.sqlite" >"$out/$name.txt" || true
  "$bin/cr-report" "$name.sqlite" | tail -n 4 | tee "$out/$name.summary"
done
echo "reports: $out/<module>.txt (each surviving mutant with its diff)"
