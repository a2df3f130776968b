"""The catalog: SQLModel tables, Alembic migrations, keyword-only services and algorithm presets.

Imports nothing of Prefect; every read of a team-owned resource goes through ``catalog.scoping``.
"""
