"""Alembic environment of the nurture migration stream."""

from services.migrate import run_env

run_env()
