"""Prefect flows: thin orchestration of tasks. Each flow is safe to re-run."""
