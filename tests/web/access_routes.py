"""A route table for the access tests: one view that forgot its policy, one that declares it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from sentinelle.web.access import EVERYONE, access


def forgot(request: HttpRequest) -> HttpResponse:
    return HttpResponse("should never be reached")


@access(read=EVERYONE)
def declared(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("forgot/", forgot), path("declared/", declared)]
