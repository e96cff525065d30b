"""Errors of the identity store. Messages name identifier types, never their values."""

from __future__ import annotations


class IdentityError(Exception):
    """Base class for identity store errors."""


class UnknownIdentifier(IdentityError, LookupError):
    """An identifier or contact ID the store has never seen."""


class NoSuchEvidence(IdentityError, LookupError):
    """An unmerge named an evidence edge or record that links nothing."""
