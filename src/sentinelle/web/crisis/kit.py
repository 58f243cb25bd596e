"""The crisis kit: one booklet to print before the night it is needed.

Contacts (roles, names, phones, radio channels: mail will be down), each service's degraded-mode
procedure from the hospital model (its runbook, its owner, who to call), and the status board as
it stands when printed. The web app serves it (``/crisis/kit/``, and as a PDF);
``sentinelle crisis-kit --out FILE`` writes the same booklet ahead of time.

Runbooks are Markdown files of the model, rendered with markdown-it in its CommonMark mode with
raw HTML off, so a runbook's text can only ever become text, lists, headings and links.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from sentinelle.hospital import HospitalModel
from sentinelle.web.crisis import documents
from sentinelle.web.crisis.board import current_rows, grid, service_order
from sentinelle.web.crisis.models import Contact

MAX_RUNBOOK_CHARS = 200_000


def runbook_html(text: str) -> SafeString:
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False, "linkify": False})
    # Only http(s) and mailto links survive (markdown-it already refuses javascript: and data:).
    rendered = str(parser.render(text[:MAX_RUNBOOK_CHARS]))
    return mark_safe(rendered)  # noqa: S308 - markdown-it escapes every character of the text


def procedures(model: HospitalModel) -> list[dict[str, Any]]:
    """Per service, vital first: its procedure (rendered), owner and on-call, where it is used."""
    out: list[dict[str, Any]] = []
    seen_runbooks: dict[str, str] = {}
    for sid in service_order(model):
        service = model.services[sid]
        text = None
        problem = ""
        if service.runbook is not None:
            try:
                text = model.runbook_text(sid)
            except (OSError, UnicodeDecodeError) as exc:
                problem = f"{service.runbook.name}: {exc.__class__.__name__}: {exc}"
        key = str(service.runbook) if service.runbook else ""
        shared_with = seen_runbooks.get(key, "") if key else ""
        if key and not shared_with:
            seen_runbooks[key] = service.name
        out.append(
            {
                "service": service,
                "html": runbook_html(text) if text and not shared_with else None,
                "shared_with": shared_with,
                "problem": problem,
                "sites": [model.sites[s].name for s in service.used_at if s in model.sites],
            }
        )
    return out


def context(model: HospitalModel, sites: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "hospital": model.name,
        "now": timezone.now(),
        "contacts": list(Contact.objects.filter(active=True)),
        "grid": grid(model, current_rows(model), sites),
        "procedures": procedures(model),
        "sites": {s.id: s.name for s in model.sites.values()},
    }


def booklet(model: HospitalModel, *, standalone: bool) -> str:
    """The kit as HTML (standalone: its stylesheet inlined, for a file or a PDF)."""
    return documents.render("crisis/kit.html", context(model), standalone=standalone)
