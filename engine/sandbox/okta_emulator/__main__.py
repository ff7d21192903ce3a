"""Run the Okta emulator standalone: `python -m engine.sandbox.okta_emulator --token …`.

For poking at it with curl or the okta SDK by hand, and for `sandbox serve`. The token
comes from `--token` or `OKTA_EMULATOR_TOKEN`, and is never printed.
"""

from __future__ import annotations

import argparse
import os
import sys

from engine.sandbox.okta_emulator.server import OktaEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.sandbox.okta_emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=os.environ.get("OKTA_EMULATOR_TOKEN"))
    parser.add_argument("--state", help="JSON state file: loaded if present, saved on writes")
    parser.add_argument("--seed", type=int, help="seed for deterministic ids")
    parser.add_argument(
        "--seed-aws-app", action="store_true", help="create the amazon_aws app if missing"
    )
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token (or OKTA_EMULATOR_TOKEN) is required")
    emulator = OktaEmulator.start(
        token=args.token,
        host=args.host,
        port=args.port,
        seed=args.seed,
        seed_aws_app=args.seed_aws_app,
        state_path=args.state,
    )
    print(emulator.url, flush=True)
    try:
        # Short waits keep the main thread responsive to Ctrl-C.
        while emulator.wait(timeout=1.0):
            pass
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
