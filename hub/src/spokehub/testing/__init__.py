"""Test helpers for the hub's own suites (store fixtures for SQLite and PostgreSQL)."""
