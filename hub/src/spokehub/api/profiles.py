"""The profile API (admin token)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["profiles"])
