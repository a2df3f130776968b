"""Roles: every role a membership may have, listed for anyone signed in (built-in and custom, with their
permissions); custom roles created, changed and deleted by administrators (``catalog.services.roles``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import ActorDep, AdminDep, SessionDep
from catalog.models import Role
from catalog.permissions import RoleDef
from catalog.services import roles as roles_service
from mlops_lite.schemas.admin import CreateRole, RoleOut, UpdateRole
from mlops_lite.schemas.common import ROLE_NAME_PATTERN

router = APIRouter(tags=["admin"])

RolePath = Annotated[
    str, Path(min_length=1, max_length=50, pattern=ROLE_NAME_PATTERN, description="A role's name.")
]


def _out(role: RoleDef | Role) -> RoleOut:
    return RoleOut(
        name=role.name,
        description=role.description,
        permissions=sorted(role.permissions),
        includes_children=role.includes_children,
        builtin=isinstance(role, RoleDef) and role.builtin,
    )


@router.get("/roles", response_model=list[RoleOut], summary="List roles")
def list_roles(actor: ActorDep, session: SessionDep) -> list[RoleOut]:
    """The built-in roles (viewer, member, maintainer, admin), then the custom ones by name."""
    return [_out(r) for r in roles_service.list_roles(session, actor=actor)]


@router.post(
    "/roles", response_model=RoleOut, status_code=201, summary="Create a custom role (administrators)"
)
def create_role(body: CreateRole, actor: AdminDep, session: SessionDep) -> RoleOut:
    return _out(
        roles_service.create_role(
            session,
            actor=actor,
            name=body.name,
            permissions=body.permissions,
            includes_children=body.includes_children,
            description=body.description,
        )
    )


@router.patch("/roles/{name}", response_model=RoleOut, summary="Change a custom role (administrators)")
def update_role(name: RolePath, body: UpdateRole, actor: AdminDep, session: SessionDep) -> RoleOut:
    """Members holding it get the new permissions with their next request; a built-in role is refused (409)."""
    return _out(
        roles_service.update_role(
            session,
            actor=actor,
            name=name,
            permissions=body.permissions,
            includes_children=body.includes_children,
            description=body.description,
        )
    )


@router.delete(
    "/roles/{name}",
    status_code=204,
    response_class=Response,
    summary="Delete a custom role (administrators)",
)
def delete_role(name: RolePath, actor: AdminDep, session: SessionDep) -> Response:
    """Refused (409) while a membership holds it, or for a built-in role."""
    roles_service.delete_role(session, actor=actor, name=name)
    return Response(status_code=204)
