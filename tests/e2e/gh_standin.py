"""A recording stand-in for GitHub's `gh`, for running the generated workflows' steps.

gh is GitHub's code; what we hand it (comment bodies, issue bodies, which comment to edit
or delete) is ours, and that is what the end-to-end test looks at. This script is put on
PATH as `gh`: it records every call (arguments, and the files it was given) in
`calls.jsonl` and keeps the pull request's comments and the repository's issues in
`state.json`, both in `$GH_STANDIN_DIR`, answering only the calls the workflows make. Any
other call exits 2, so a workflow that starts calling gh differently fails the test
instead of passing against a guess.

Where the workflows filter with `--jq`, the stand-in applies that one filter: it reads the
marker or the title out of the expression (`startswith("…")`, `.title == "…"`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(os.environ["GH_STANDIN_DIR"])
STATE = ROOT / "state.json"


def _load() -> dict[str, Any]:
    if STATE.exists():
        loaded: dict[str, Any] = json.loads(STATE.read_text(encoding="utf-8"))
        return loaded
    return {"next_id": 1001, "comments": [], "issues": [], "labels": []}


def _save(state: dict[str, Any]) -> None:
    STATE.write_text(json.dumps(state, indent=1), encoding="utf-8")


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _body(args: list[str], name: str = "--body-file") -> str:
    return Path(_option(args, name)).read_text(encoding="utf-8")


def _quoted(expression: str, pattern: str) -> str:
    found = re.search(pattern, expression)
    if found is None:
        raise SystemExit(f"gh stand-in: no filter it knows in --jq {expression!r}")
    return found.group(1)


def _api(args: list[str], state: dict[str, Any]) -> str:
    method = _option(args, "-X") if "-X" in args else "GET"
    path = next(a for a in args if a.startswith("repos/"))
    if method == "GET" and path.endswith("/comments"):
        marker = _quoted(_option(args, "--jq"), r'startswith\("(.*?)"\)')
        return "".join(f"{c['id']}\n" for c in state["comments"] if c["body"].startswith(marker))
    comment_id = int(path.rsplit("/", 1)[1])
    (comment,) = [c for c in state["comments"] if c["id"] == comment_id]
    if method == "PATCH":
        field = _option(args, "-F")
        assert field.startswith("body=@"), field
        comment["body"] = Path(field.removeprefix("body=@")).read_text(encoding="utf-8")
        comment["edits"] += 1
        return ""
    if method == "DELETE":
        state["comments"].remove(comment)
        return ""
    raise SystemExit(f"gh stand-in: api {method} {path} is not a call the workflows make")


def _issue(args: list[str], state: dict[str, Any]) -> str:
    action = args[1]
    if action == "list":
        assert _option(args, "--state") == "open"
        label = _option(args, "--label")
        title = _quoted(_option(args, "--jq"), r'\.title == "(.*?)"')
        return "".join(
            f"{i['number']}\n"
            for i in state["issues"]
            if i["state"] == "open" and label in i["labels"] and i["title"] == title
        )
    if action == "create":
        number = len(state["issues"]) + 1
        label = _option(args, "--label")
        assert label in state["labels"], f"label {label} was not created first"
        state["issues"].append(
            {
                "number": number,
                "title": _option(args, "--title"),
                "labels": [label],
                "body": _body(args),
                "state": "open",
                "edits": 0,
                "comments": [],
            }
        )
        return f"https://github.example/issues/{number}\n"
    (issue,) = [i for i in state["issues"] if i["number"] == int(args[2])]
    if action == "edit":
        issue["body"] = _body(args)
        issue["edits"] += 1
        return ""
    if action == "close":
        issue["state"] = "closed"
        issue["comments"].append(_option(args, "--comment"))
        return ""
    raise SystemExit(f"gh stand-in: issue {action} is not a call the workflows make")


def main(args: list[str]) -> int:
    if not os.environ.get("GH_TOKEN"):
        print("gh stand-in: GH_TOKEN is not set (gh would not be logged in)", file=sys.stderr)
        return 4
    state = _load()
    with (ROOT / "calls.jsonl").open("a", encoding="utf-8") as calls:
        # Names only: which secrets the step handed gh (none should reach it).
        secrets = sorted(k for k in ("OKTA_API_TOKEN", "LDAP_PASSWORD") if k in os.environ)
        calls.write(json.dumps({"args": args, "secrets_in_env": secrets}) + "\n")
    if args[:2] == ["pr", "comment"]:
        state["comments"].append(
            {"id": state["next_id"], "pr": args[2], "body": _body(args), "edits": 0}
        )
        state["next_id"] += 1
        output = ""
    elif args[0] == "api":
        output = _api(args, state)
    elif args[:2] == ["label", "create"]:
        if args[2] not in state["labels"]:
            state["labels"].append(args[2])
        output = ""
    elif args[0] == "issue":
        output = _issue(args, state)
    elif args[:2] == ["run", "list"]:
        assert _option(args, "--workflow") == "okta-aws-reconcile.yml"
        output = "4242\n"  # the run whose snapshot artifact the test published
    else:
        print(f"gh stand-in: {args} is not a call the workflows make", file=sys.stderr)
        return 2
    _save(state)
    sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
