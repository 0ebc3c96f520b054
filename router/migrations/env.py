"""Alembic environment of the router migration stream."""

from services.migrate import run_env

run_env()
