"""Alembic environment of the audit migration stream."""

from services.migrate import run_env

run_env()
