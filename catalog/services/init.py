"""`mlops init`: make the data dir private, generate the install's secrets, migrate the catalog, import the
presets, create the default team and the admin. Idempotent.

An existing admin is never overwritten; a generated password is shown exactly once, when the admin is created.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import select

from catalog.db import migrate, session_scope
from catalog.models import Membership, Team, User
from catalog.presets import PresetReport, import_presets
from catalog.scoping import SYSTEM
from catalog.services import team_tree
from catalog.services import teams as teams_service
from infra.settings import get_settings
from infra.settings.secrets import ensure_private_dir, ensure_secrets


@dataclass
class InitReport:
    """What `mlops init` did. ``generated_password`` is set only when this run generated the admin's password."""

    presets: PresetReport = field(default_factory=PresetReport)
    team: str = ""
    team_created: bool = False
    admin_username: str = ""
    admin_created: bool = False
    membership_created: bool = False
    generated_password: str | None = None
    secrets_file: str = ""
    secrets_generated: list[str] = field(default_factory=list)


def initialize(*, admin_password: str | None, echo: Callable[[str], object] = print) -> InitReport:
    """Bring the catalog to a usable first state; safe to run any number of times."""
    settings = get_settings().platform
    ensure_private_dir(settings.data_dir)
    path, generated = ensure_secrets(settings.data_dir)
    report_secrets = (str(path), generated)
    echo(
        f"secrets: {path} (mode 0600): "
        + (f"generated {', '.join(generated)}" if generated else "already present")
    )
    migrate()
    echo(f"catalog migrated: {get_settings().database.url.split('@')[-1]}")
    report = InitReport(
        team=settings.default_team,
        admin_username=settings.admin_username,
        secrets_file=report_secrets[0],
        secrets_generated=report_secrets[1],
    )
    with session_scope() as session:
        report.presets = presets = import_presets(session)
        echo(f"algorithm presets: {presets.summary()}")
        if presets.created:
            echo(f"  created: {', '.join(presets.created)}")
        for file, reason in presets.invalid:
            echo(f"  invalid: {file}: {reason}")

        team = session.exec(select(Team).where(Team.name == settings.default_team)).first()
        if team is None:
            team = team_tree.create_team(
                session, actor=SYSTEM, name=settings.default_team, description="Created by mlops init"
            )
            report.team_created = True
        echo(f"team {team.name!r}: {'created' if report.team_created else 'already exists'}")

        admin = session.exec(select(User).where(User.username == settings.admin_username)).first()
        if admin is None:
            password = admin_password
            if not password:
                password = report.generated_password = secrets.token_urlsafe(12)
            admin = teams_service.create_user(
                session, actor=SYSTEM, username=settings.admin_username, password=password, is_superuser=True
            )
            report.admin_created = True
            echo(f"admin user {admin.username!r}: created")
        else:
            echo(f"admin user {admin.username!r}: already exists (password left unchanged)")
            if not admin.is_superuser:
                echo(f"  warning: {admin.username!r} is not a superuser; it was left as it is")

        if session.get(Membership, (admin.id, team.id)) is None:
            teams_service.add_member(
                session,
                actor=SYSTEM,
                team_id=team.id,
                user_id=admin.id,  # type: ignore[arg-type]
                role="admin",
            )
            report.membership_created = True
            echo(f"{admin.username!r} added to team {team.name!r} as admin")
    # Printed only after the commit, so a password is never shown for an admin that was not saved.
    if report.generated_password:
        echo(f"admin password (shown once, keep it): {report.generated_password}")
    return report
