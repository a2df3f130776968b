"""The dashboard's navigation: which pages an actor sees, in which sections, under which URL paths.

Sections: the overview first (the default page); one section per scenario with its Datasets, Training,
Models, Serving and Sandbox pages (URL paths like ``anomaly-detection-datasets``); the Account section (the user's API
tokens); for administrators the Admin section (algorithms, teams and users, roles, audit log), for other users
holding ``audit:read`` the Team section (their teams' audit log).

A page is listed when the actor may read what it shows (``PAGE_PERMISSION``), even if it may change nothing
there (the page is then read-only: ``dashboard.permissions``); a page it cannot even read is not listed, and
a section left empty is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from catalog.scenarios import Scenario
from catalog.scoping import Actor
from dashboard.permissions import anywhere
from dashboard.views import (
    admin_algorithms,
    admin_roles,
    admin_teams,
    audit,
    datasets,
    models,
    overview,
    sandbox,
    serving,
    tokens,
    training,
)

PageSpec = tuple[Callable[[], None], str, str]  # render function, title, url path
# The pages of every scenario section: (render taking the scenario, title, url path suffix).
SCENARIO_PAGES: list[tuple[Callable[..., None], str, str]] = [
    (datasets.render, "Datasets", "datasets"),
    (training.render, "Training", "training"),
    (models.render, "Models", "models"),
    (serving.render, "Serving", "serving"),
    (sandbox.render, "Sandbox", "sandbox"),
]
# The permission (on some team) without which a scenario page is not listed.
PAGE_PERMISSION = {
    "datasets": "datasets:read",
    "training": "jobs:read",
    "models": "models:read",
    "serving": "servings:read",
    "sandbox": "servings:read",  # without servings:predict it shows the running servings, read-only
}
ACCOUNT_SECTION = "Account"
TEAM_SECTION = "Team"
ADMIN_SECTION = "Admin"


def scenario_url(scenario: Scenario, suffix: str) -> str:
    """URL path of a scenario page, e.g. ``anomaly-detection-datasets``."""
    return f"{scenario.value.replace('_', '-')}-{suffix}"


def page_sections(who: Actor) -> dict[str, list[PageSpec]]:
    """The navigation this actor sees, section by section (the first page is the default)."""
    sections: dict[str, list[PageSpec]] = {"": [(overview.render, "Overview", "overview")]}
    readable = [page for page in SCENARIO_PAGES if anywhere(who, PAGE_PERMISSION[page[2]])]
    for scenario in Scenario:
        if readable:
            sections[scenario.display_name] = [
                (partial(render, scenario=scenario.value), title, scenario_url(scenario, suffix))
                for render, title, suffix in readable
            ]
    sections[ACCOUNT_SECTION] = [(tokens.render, "API tokens", "tokens")]
    if not who.is_superuser and anywhere(who, "audit:read"):
        sections[TEAM_SECTION] = [(audit.render, "Audit log", "audit")]
    if who.is_superuser:
        sections[ADMIN_SECTION] = [
            (admin_algorithms.render, "Algorithms", "admin-algorithms"),
            (admin_teams.render, "Teams and users", "admin-teams"),
            (admin_roles.render, "Roles", "admin-roles"),
            (audit.render, "Audit log", "audit"),
        ]
    return sections


def page_specs(who: Actor) -> list[PageSpec]:
    """Every page this actor may open, in navigation order."""
    return [spec for specs in page_sections(who).values() for spec in specs]
