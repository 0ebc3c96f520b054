"""Alembic environment of the ingest migration stream."""

from services.migrate import run_env

run_env()
