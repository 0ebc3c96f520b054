"""nurture: its erasure tombstones move into the chassis's `tombstones` (chassis_0003), every
row kept, and `nurture_erased` goes.

Revision ID: nurture_0005
Revises: nurture_0004
"""

from services.migrations.tombstones import move_back, move_to_chassis

revision = "nurture_0005"
down_revision = "nurture_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    move_to_chassis("nurture")


def downgrade() -> None:
    move_back("nurture")
