from django.apps import AppConfig


class WatchConfig(AppConfig):
    name = "sentinelle.web.watch"
    label = "watch"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from sentinelle.web.access import EVERYONE
        from sentinelle.web.navigation import Entry, add_entry

        add_entry(Entry("watch:probes", _("Probes"), EVERYONE))
        add_entry(Entry("watch:sources", _("Sources"), EVERYONE))
        add_entry(Entry("watch:coverage", _("Coverage"), EVERYONE))
