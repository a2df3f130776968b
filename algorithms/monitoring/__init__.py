"""Monitoring statistics, pure: drift between a reference sample and a window (``drift``). Imports nothing."""
