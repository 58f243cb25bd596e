"""What the crisis views share: who may write the crisis pages."""

from __future__ import annotations

from django.http import HttpRequest

from sentinelle.web.access import CRISIS_CELL, may


def in_cell(request: HttpRequest) -> bool:
    """Whether the requester may write the crisis pages (admin, crisis role or a cell seat)."""
    return may(request, CRISIS_CELL)
