"""Printed documents: the crisis log, the regulatory drafts, the board snapshot and the kit.

One template per document, drawn two ways: served by the app (its stylesheet linked, as the
Content-Security-Policy wants) and *standalone* (the stylesheet inlined), which is what a file
written by ``sentinelle crisis-kit`` holds and what the PDF is made from. The PDF comes from
WeasyPrint (docs/ARCHITECTURE.md says why): the same HTML and print stylesheet the browser
prints, laid out on pages. WeasyPrint fetches nothing: the fetcher refuses every address, so a
document can never make the server reach out, whatever text it holds.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from sentinelle.errors import SentinelleError

_STATIC = Path(__file__).resolve().parent / "static" / "crisis"
STYLESHEETS = (_STATIC / "document.css", _STATIC / "document-print.css")


class PdfUnavailable(SentinelleError):
    """WeasyPrint cannot run here (its system libraries, Pango, are missing)."""


@functools.cache
def _css() -> str:
    screen, paper = (path.read_text(encoding="utf-8") for path in STYLESHEETS)
    return f"{screen}\n@media print {{\n{paper}\n}}\n"


def render(template: str, context: dict[str, Any], *, standalone: bool) -> str:
    extra: dict[str, Any] = {"standalone": standalone}
    if standalone:
        extra["inline_css"] = mark_safe(_css())  # noqa: S308 - our own file, never input
    return render_to_string(template, {**context, **extra})


def pdf(html: str) -> bytes:
    """The PDF of a standalone document."""
    try:
        import weasyprint  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:  # OSError: Pango's shared libraries are missing
        raise PdfUnavailable(
            "PDF output needs WeasyPrint and the Pango libraries (Debian: apt-get install"
            f" libpango-1.0-0 libpangoft2-1.0-0); print the HTML page instead ({exc})"
        ) from exc
    # No protocol allowed: every address a document names is refused, none is fetched.
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols=(), timeout=1)
    document = weasyprint.HTML(string=html, url_fetcher=fetcher)
    data: bytes = document.write_pdf()
    return data


def pdf_response(html: str, filename: str) -> HttpResponse:
    try:
        data = pdf(html)
    except PdfUnavailable as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
