"""router: its erasure tombstones move into the chassis's `tombstones` (chassis_0003), every
row kept, and `router_erased` goes.

Revision ID: router_0012
Revises: router_0011
"""

from services.migrations.tombstones import move_back, move_to_chassis

revision = "router_0012"
down_revision = "router_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    move_to_chassis("router")


def downgrade() -> None:
    move_back("router")
