"""Alembic environment of the qualifier migration stream."""

from services.migrate import run_env

run_env()
