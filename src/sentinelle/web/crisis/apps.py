from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrisisConfig(AppConfig):
    name = "sentinelle.web.crisis"
    label = "crisis"
    verbose_name = "Crisis room"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from sentinelle.web import access
        from sentinelle.web.access import ADMINS, CRISIS_CELL, EVERYONE
        from sentinelle.web.crisis.cell import granted
        from sentinelle.web.incidents.models import ContainmentAction
        from sentinelle.web.navigation import Entry, add_entry

        if granted not in access.ROLE_GRANTS:
            access.ROLE_GRANTS.append(granted)
        from django.apps import apps

        if apps.is_installed("sentinelle.web.watch"):  # the probes feed the board
            from sentinelle.web.crisis import observed

            observed.register("probes", observed.probe_observations)
        add_entry(Entry("crisis:board", _("Board"), EVERYONE), before="alerts:list")
        add_entry(Entry("crisis:log", _("Crisis log"), EVERYONE), before="alerts:list")
        add_entry(Entry("crisis:clocks", _("Clocks"), EVERYONE), before="alerts:list")
        add_entry(Entry("crisis:kit", _("Crisis kit"), EVERYONE), before="alerts:list")
        add_entry(Entry("crisis:screens", _("Screens"), CRISIS_CELL))
        add_entry(Entry("crisis:members", _("Crisis cell"), ADMINS))
        # A containment action recorded as taken (the incident pages) moves the board at once.
        post_save.connect(_containment_saved, sender=ContainmentAction, dispatch_uid="crisis-board")


def _containment_saved(sender: object, **kwargs: object) -> None:
    from sentinelle.web.crisis.board import refresh_after_commit

    refresh_after_commit()
