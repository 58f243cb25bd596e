"""The navigation bar: one list of entries, each shown to the roles that may read its page.

Later parts of the crisis room (the board, the crisis log) add their entries with
:func:`add_entry` from their app's ``ready()``; the base template draws what :func:`context`
gives it, so no template lists pages by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from sentinelle.web.access import ADMINS, EVERYONE, principal_of


@dataclass(frozen=True, slots=True)
class Entry:
    url_name: str
    label: str | Promise
    roles: frozenset[str]


ENTRIES: list[Entry] = [
    Entry("alerts:list", _("Alerts"), EVERYONE),
    Entry("incidents:list", _("Incidents"), EVERYONE),
    Entry("alerts:suppressions", _("Suppressions"), EVERYONE),
    Entry("accounts:users", _("Users"), ADMINS),
    Entry("accounts:tokens", _("API tokens"), ADMINS),
    Entry("accounts:audit", _("Audit trail"), ADMINS),
]


def add_entry(entry: Entry, *, before: str | None = None) -> None:
    """Add a page to the bar (before the entry named ``before``, else at the end of the
    people's pages, ahead of the administration ones)."""
    if any(e.url_name == entry.url_name for e in ENTRIES):
        return
    names = [e.url_name for e in ENTRIES]
    anchor = before if before in names else "accounts:users"
    ENTRIES.insert(names.index(anchor), entry)


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context: the entries the requester may open, and which one is current."""
    principal = principal_of(request)
    items: list[dict[str, Any]] = []
    if principal.kind == "user":
        for entry in ENTRIES:
            if not principal.has_any(entry.roles):
                continue
            try:
                url = reverse(entry.url_name)
            except NoReverseMatch:
                continue
            items.append({"url": url, "label": entry.label, "current": False})
    # The current entry is the one whose address is the longest start of the page's.
    matching = [item for item in items if request.path.startswith(item["url"])]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["current"] = True
    return {"navigation": items, "principal": principal}
