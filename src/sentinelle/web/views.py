"""Views of the project itself: the home page, static files and the language switch."""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.views.i18n import set_language as django_set_language

from sentinelle.web import downloads
from sentinelle.web.access import EVERYONE, access


@access(read=EVERYONE)
def home(request: HttpRequest) -> HttpResponse:
    return redirect("alerts:list")


@access(public=True)
def static_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """A file of the package's static folders. Served by the app itself, so a hospital installs
    nothing in front of it; the names are ours and few, looked up by the staticfiles finders
    (which refuse a path leaving their folders)."""
    if request.method not in {"GET", "HEAD"}:
        return HttpResponse(status=405)
    parts = path.split("/")
    if not path or any(p in {"", ".", ".."} or p.startswith(".") for p in parts):
        raise Http404("no such file")
    found = finders.find(path)
    if not isinstance(found, str):
        raise Http404("no such file")
    response = downloads.static(request, Path(found))
    response["Cache-Control"] = "max-age=300"
    return response


@access(public=True)
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's language switch (a POST with CSRF protection; sets the language cookie)."""
    if request.method != "POST":
        return HttpResponse(status=405)
    response: HttpResponse = django_set_language(request)
    return response
