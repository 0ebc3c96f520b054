"""The sales-executive role, kept by audit over the chassis's API keys (docs/audit.md, "The
sales-executive role")."""

from __future__ import annotations

from audit.records import RoleRow
from audit.repository.roles import api_key_scope, grant_role, list_roles, revoke_role
from services.db import ReadConn, Tx
from services.errors import Invalid, NotFound

SALES_EXECUTIVE = "sales_executive"
ROLE_SCOPES = ("manager", "admin")


async def grant_sales_executive(tx: Tx, key_id: str, granted_by: str) -> RoleRow:
    scope = await api_key_scope(tx, key_id)
    if scope is None:
        raise NotFound(f"There is no active API key with id {key_id!r}.")
    if scope not in ROLE_SCOPES:
        raise Invalid(
            "key_id", f"Key {key_id} has scope {scope}; a sales executive needs a manager key."
        )
    await grant_role(tx, key_id, SALES_EXECUTIVE, granted_by)
    role = next(r for r in await list_roles(tx, SALES_EXECUTIVE) if r.key_id == key_id)
    return role


async def revoke_sales_executive(tx: Tx, key_id: str, revoked_by: str) -> None:
    if not await revoke_role(tx, key_id, SALES_EXECUTIVE, revoked_by):
        raise NotFound(f"Key {key_id!r} does not hold the sales-executive role.")


async def sales_executives(conn: ReadConn) -> list[RoleRow]:
    """The grants of the role, with who granted and revoked them when."""
    return await list_roles(conn, SALES_EXECUTIVE)
