"""A crisis room's store on disk, for tests that run the web app or the command line in their
own processes (the browser test, ``crisis-log verify`` on PostgreSQL).

``python -m tests.web.crisis.livestore DATA_DIR [--database-url URL] seed`` migrates the store
and makes people (``cri`` of the crisis cell, ``ana`` an analyst, ``vic`` a viewer; password
:data:`tests.web.conftest.PASSWORD`), an open incident on a patient-record server, contacts,
and computes the board. ``... log N`` writes N entries in the crisis log.
``... declare SITE SERVICE STATUS REASON`` declares a status, as a person of the cell would.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--database-url")
    parser.add_argument("command")
    parser.add_argument("args", nargs="*")
    options = parser.parse_args(argv)
    from sentinelle.web import configure

    configure(options.data_dir, options.database_url, migrate=True)
    from sentinelle.web.accounts.models import User
    from sentinelle.web.crisis import board, chain
    from tests.web.conftest import PASSWORD

    if options.command == "seed":
        from sentinelle.web.crisis.models import Contact
        from sentinelle.web.incidents.models import Incident
        from sentinelle.web.sources import hospital_model

        for name, role in (("cri", "crisis"), ("ana", "analyst"), ("vic", "viewer")):
            User.objects.create_user(name, password=PASSWORD, role=role)
        host = hospital_model().hosts_for_service("patient-record")[0]
        incident = Incident.objects.create(
            title="Ransomware on the patient record", hosts=[host], severity="critical"
        )
        Contact.objects.create(
            role="Director on duty", name="Claire Martin", phones="06 12 34 56 78", radio="Ch. 3"
        )
        Contact.objects.create(
            role="IT on call", name="Paul <b>Roux</b>", phones="ext. 4410", radio="Ch. 5"
        )
        board.refresh()
        print(incident.pk)
    elif options.command == "log":
        author = User.objects.get(username="cri")
        for n in range(int(options.args[0])):
            chain.append(author, "information", f"Entry number {n + 1}")
    elif options.command == "declare":
        from sentinelle.web.crisis.models import Declaration

        site, service, status, reason = options.args
        Declaration.objects.filter(site=site, service=service, ended__isnull=True).update(
            ended=Declaration._meta.get_field("at").get_default()
        )
        Declaration.objects.create(
            site=site,
            service=service,
            status=status,
            reason=reason,
            author=User.objects.get(username="cri"),
        )
        board.refresh()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
