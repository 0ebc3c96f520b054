"""Alembic environment of the auth migration stream."""

from services.migrate import run_env

run_env()
