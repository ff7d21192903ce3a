"""`okta.login_url`, the setting added to show what a new Okta app setting takes (its
field in `spec_settings.OktaSpec` and in `model.OktaAppSettings`, nothing else): read,
planned, written and converged through the real okta SDK against the emulator."""

from __future__ import annotations

import dataclasses

from engine.model import DEFAULT_LOGIN_URL
from engine.plan import Action, ResourceKind
from engine.providers.okta import OktaProvider
from engine.sandbox.okta_emulator import OktaEmulator
from tests.providers.okta_fixtures import (
    converge,
    desired,
    execute_plan,
    import_directory,
    plan,
    state_of,
)

CUSTOM = "https://console.aws.amazon.com/console/home?region=eu-west-1"


def _login_url(emulator: OktaEmulator) -> object:
    return emulator.state.apps[emulator.aws_app().id].body["settings"]["app"]["loginURL"]


def test_a_fresh_app_has_the_default_login_url(emulator: OktaEmulator) -> None:
    # The model's default is what Okta gives a new app: a desired state that does not
    # mention login_url plans no loginURL change on a fresh app.
    assert _login_url(emulator) == DEFAULT_LOGIN_URL


def test_login_url_is_planned_written_and_converged(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    state = state_of()
    emulator.aws_app()
    import_directory(emulator, desired(state))
    converge(provider, desired(state))  # everything else as desired, loginURL untouched
    assert _login_url(emulator) == DEFAULT_LOGIN_URL

    okta = dataclasses.replace(state.settings.okta, login_url=CUSTOM)
    world = desired(
        dataclasses.replace(state, settings=dataclasses.replace(state.settings, okta=okta))
    )
    planned = plan(provider, world)
    [app_change] = planned.changes
    assert (app_change.kind, app_change.action) == (ResourceKind.OKTA_APP, Action.UPDATE)
    assert [(d.path, d.before, d.after) for d in app_change.details] == [
        ("settings.app.loginURL", DEFAULT_LOGIN_URL, CUSTOM)
    ]
    assert not app_change.destructive  # where users land takes no access away

    execute_plan(provider, planned)
    assert _login_url(emulator) == CUSTOM
    assert plan(provider, world).changes == ()
