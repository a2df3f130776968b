"""What the signed-in user may do, as the dashboard shows it: one helper every page uses, so a control the
user's role does not allow is drawn the same way everywhere — disabled, its tooltip naming the missing
permission ("your role in team 'x' does not grant 'jobs:start'"), and a form's caption saying it is read-only.

The decision is ``Actor.can`` (``catalog.scoping``), on the team of the row acted on (a maintainer of a parent
team sees, and may act on, its sub-teams' rows) or the current team for a create form. The services stay the
authority and refuse anyway; the dashboard only mirrors them, so nobody is offered a button that would fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from catalog.scoping import Actor

NO_TEAM = "you belong to no team yet; ask an administrator"


@dataclass(frozen=True, slots=True)
class Gate:
    """Whether one action is allowed: ``refusal`` is None when it is, else the reason shown to the user."""

    permission: str
    refusal: str | None = None

    @property
    def ok(self) -> bool:
        return self.refusal is None

    @property
    def widget_args(self) -> dict[str, Any]:
        """Keyword arguments drawing an input of this action (a file uploader, a checkbox) disabled when
        refused, the refusal as its help."""
        return {"disabled": not self.ok, "help": self.refusal}


def allowed(who: Actor, permission: str, team_id: int | None) -> bool:
    """Whether ``who`` holds ``permission`` on ``team_id``. No team (a user in none) allows nothing: every
    change happens in a team."""
    return team_id is not None and who.can(permission, team_id)


def gate(who: Actor, permission: str, team_id: int | None) -> Gate:
    """The decision and, when refused, the reason in the words the services use."""
    if allowed(who, permission, team_id):
        return Gate(permission)
    if team_id is None:
        return Gate(permission, NO_TEAM)
    return Gate(permission, who.refusal(permission, team_id))


def anywhere(who: Actor, permission: str) -> bool:
    """Whether ``who`` holds ``permission`` on at least one team it sees (an administrator: everywhere)."""
    teams = who.teams_with(permission)
    return teams is None or bool(teams)


def button(
    label: str,
    allowed_by: Gate,
    *,
    key: str | None = None,
    disabled: bool = False,
    help: str | None = None,
    where: Any = st,
    submit: bool = False,
) -> bool:
    """A button that changes something (``submit``: a form's submit button), in ``where`` (``st``, a column,
    the sidebar). Refused by ``allowed_by``: drawn disabled, the refusal as its tooltip. True only when
    clicked *and* allowed, so a click a browser should not have been able to send does nothing."""
    draw = where.form_submit_button if submit else where.button
    clicked = draw(label, key=key, disabled=disabled or not allowed_by.ok, help=allowed_by.refusal or help)
    return bool(clicked) and allowed_by.ok


def read_only_note(allowed_by: Gate, where: Any = st) -> bool:
    """Above a form the user may not submit: a caption saying why (its disabled button's tooltip says it too,
    but only on hover). Returns whether the form may be submitted."""
    if not allowed_by.ok:
        where.caption(f"🔒 Read-only: {allowed_by.refusal}.")
    return allowed_by.ok
