"""The dashboard's navigation: which pages an actor sees, in which sections, under which URL paths.

Sections: the overview first (the default page); one section per scenario with its Datasets, Training,
Serving and Sandbox pages (URL paths like ``anomaly-detection-datasets``); the Account section (the user's API
tokens); and for administrators the Admin section (algorithms, teams and users, roles, audit log).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from catalog.scenarios import Scenario
from catalog.scoping import Actor
from dashboard.views import (
    admin_algorithms,
    admin_roles,
    admin_teams,
    audit,
    datasets,
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
    (serving.render, "Serving", "serving"),
    (sandbox.render, "Sandbox", "sandbox"),
]
ACCOUNT_SECTION = "Account"
ADMIN_SECTION = "Admin"


def scenario_url(scenario: Scenario, suffix: str) -> str:
    """URL path of a scenario page, e.g. ``anomaly-detection-datasets``."""
    return f"{scenario.value.replace('_', '-')}-{suffix}"


def page_sections(who: Actor) -> dict[str, list[PageSpec]]:
    """The navigation this actor sees, section by section (the first page is the default)."""
    sections: dict[str, list[PageSpec]] = {"": [(overview.render, "Overview", "overview")]}
    for scenario in Scenario:
        sections[scenario.display_name] = [
            (partial(render, scenario=scenario.value), title, scenario_url(scenario, suffix))
            for render, title, suffix in SCENARIO_PAGES
        ]
    sections[ACCOUNT_SECTION] = [(tokens.render, "API tokens", "tokens")]
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
