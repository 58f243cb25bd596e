"""A store on disk for tests that run the web app in its own process (the browser test).

``python -m tests.web.livestore DATA_DIR seed`` migrates the store, makes an analyst
(``ana``, :data:`tests.web.conftest.PASSWORD`) and a few alerts, one of them hostile;
``python -m tests.web.livestore DATA_DIR alert TITLE`` stores one new alert, as the detector
would, while the server runs.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from sentinelle.web import configure

    configure(Path(argv[0]), migrate=True)
    from tests.web.conftest import HOSTILE, PASSWORD, new_alert

    if argv[1] == "seed":
        from sentinelle.web.accounts.models import User

        User.objects.create_user("ana", password=PASSWORD, role="analyst")
        for n in range(5):
            new_alert(rule_title=f"Seeded alert {n}", level=("high", "low")[n % 2])
        hostile = new_alert(
            rule_title='<img src=x onerror=alert("title")>\u202eevil',
            event=dict(HOSTILE),
            host='"><script>alert("host")</script>',
            account="javascript:alert(1)",
        )
        print(hostile.id)
    elif argv[1] == "alert":
        import uuid

        # A process of its own counts from 1 again: the event id must come from elsewhere.
        event_id = uuid.uuid4().hex
        print(new_alert(rule_title=argv[2], level="critical", event_id=event_id).id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
