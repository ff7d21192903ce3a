"""Whether the `okta-aws[sandbox]` extra is installed, and what to say when it is not.

The embedded sandbox runs moto's server (moto[server], which brings Flask) and an Okta
emulator whose OAuth endpoint signs tokens with PyJWT. A production install on a CI
runner plans and applies against the live systems and does without them, so they are an
extra; a sandbox command run without it is one line saying what to install, not an
ImportError from deep inside the sandbox.
"""

from __future__ import annotations

from importlib.util import find_spec

# The top-level modules the sandbox imports from the extra's distributions.
SANDBOX_MODULES = ("moto", "flask", "jwt")
INSTALL_HINT = "pip install 'okta-aws[sandbox]'"


def sandbox_unavailable() -> str | None:
    """None when the sandbox can run; else the one-line reason and what to do."""
    missing = [name for name in SANDBOX_MODULES if find_spec(name) is None]
    if not missing:
        return None
    return (
        f"the embedded sandbox needs the sandbox extra ({', '.join(missing)} not installed): "
        f"{INSTALL_HINT}, or plan and apply with --target live"
    )
