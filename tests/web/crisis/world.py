"""One of everything the crisis routes name, for the authorization matrix of part 1
(``tests/web/test_access_matrix.py``): its sample values for the crisis routes' arguments."""

from __future__ import annotations

from typing import Any

from sentinelle.web.access import token_digest
from sentinelle.web.accounts.models import User
from sentinelle.web.crisis import chain
from sentinelle.web.crisis.models import (
    CellMembership,
    Clock,
    Contact,
    Declaration,
    KioskScreen,
)
from sentinelle.web.crisis.views.admin import new_screen_key
from sentinelle.web.incidents.models import Incident


def crisis_world(admin: User, incident: Incident) -> dict[str, Any]:
    from django.utils import timezone

    entry = chain.append(admin, "information", "Crisis cell convened")
    declaration = Declaration.objects.create(
        site="cen", service="laboratory", status="down", reason="flooded", author=admin
    )
    now = timezone.now()
    clock = Clock.objects.create(incident=incident, kind="gdpr", started=now, due=now)
    contact = Contact.objects.create(role="Director on duty", name="C. Martin", phones="4400")
    key = new_screen_key()
    screen = KioskScreen.objects.create(
        name="ED", digest=token_digest(key), prefix=key[:10], created_by=admin
    )
    member = User.objects.create_user("seat-holder", password=None, role="viewer")
    seat = CellMembership.objects.create(user=member, added_by=admin)
    return {
        "site": "cen",
        "service": "laboratory",
        "declaration_id": declaration.pk,
        "entry_id": entry.pk,
        "clock_id": clock.pk,
        "contact_id": contact.pk,
        "key": key,
        "screen_id": screen.pk,
        "seat_id": seat.pk,
    }
