"""Moderation routes (filled in by their area; wired into the app in app/main.py)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
