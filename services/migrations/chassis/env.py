"""Alembic environment of the chassis migration stream."""

from services.migrate import run_env

run_env()
