"""ingest: its erasure tombstones move into the chassis's `tombstones` (chassis_0003), every
row kept, and `ingest_erased` goes.

Revision ID: ingest_0005
Revises: ingest_0004
"""

from services.migrations.tombstones import move_back, move_to_chassis

revision = "ingest_0005"
down_revision = "ingest_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    move_to_chassis("ingest")


def downgrade() -> None:
    move_back("ingest")
