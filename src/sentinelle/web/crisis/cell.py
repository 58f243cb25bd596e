"""The crisis cell's members: people who hold the crisis role beside their own.

An analyst may declare an incident significant only from a seat in the cell. A seat grants the
``crisis`` role through :data:`sentinelle.web.access.ROLE_GRANTS`, so the one access check sees
it on every route; leaving the cell ends the seat (kept, with who ended it and when).
"""

from __future__ import annotations

from collections.abc import Iterable

from sentinelle.web.access import Role
from sentinelle.web.crisis.models import CellMembership


def granted(user_id: int) -> Iterable[str]:
    if CellMembership.objects.filter(user_id=user_id, removed__isnull=True).exists():
        return (Role.CRISIS.value,)
    return ()
