"""Routes of this area (filled in by its change)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
