"""qualifier: its erasure tombstones move into the chassis's `tombstones` (chassis_0003), every
row kept, and `qualifier_erased` goes.

Revision ID: qualifier_0006
Revises: qualifier_0005
"""

from services.migrations.tombstones import move_back, move_to_chassis

revision = "qualifier_0006"
down_revision = "qualifier_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    move_to_chassis("qualifier")


def downgrade() -> None:
    move_back("qualifier")
