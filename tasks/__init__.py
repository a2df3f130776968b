"""Prefect tasks: thin wrappers around infra adapters and catalog services, with retries where they help."""
