"""Catalog services: keyword-only functions taking the session first, raising ``catalog.errors`` with messages
meant for users. One module per area (algorithms, teams, datasets, training, serving, audit, init)."""
