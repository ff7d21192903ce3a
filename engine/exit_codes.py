"""The exit codes of every `okta-aws` command, defined once (docs/cli.md §Exit codes).

A CI job decides what to do from the exit code alone, so each code means one thing in
every command: 0/1/2 are Terraform's `plan -detailed-exitcode` convention, which CI
systems already understand; a refusal (3) is kept apart from an error (1) because it
calls for another action (re-plan, approve, raise `--max-deletions`), not a fix; 130 is
what shells report for a process ended by SIGINT.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # done; `plan`: no changes, or changes without --detailed-exitcode
    ERROR = 1  # bad input, a system not reachable or not read whole, a blocked plan, a failed apply
    CHANGES = 2  # `plan --detailed-exitcode`: there are changes and nothing blocks them
    REFUSED = 3  # `apply` refused before writing anything
    INTERRUPTED = 130  # SIGINT, after a clean stop (128 + SIGINT, as shells report it)
