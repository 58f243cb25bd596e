"""The crisis kit (the booklet, as a page and a PDF) and its contacts, kept by the crisis cell."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from sentinelle.web.access import CRISIS_CELL, EVERYONE, access
from sentinelle.web.accounts.audit import record
from sentinelle.web.crisis import documents, kit
from sentinelle.web.crisis.forms import ContactForm
from sentinelle.web.crisis.models import Contact
from sentinelle.web.crisis.views.common import in_cell
from sentinelle.web.forms import form_errors
from sentinelle.web.sources import hospital_model

CONTACT_FIELDS = ("role", "name", "organisation", "phones", "radio", "site", "notes", "position")


def contact_state(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in (*CONTACT_FIELDS, "active")}


@access(read=EVERYONE)
def kit_page(request: HttpRequest) -> HttpResponse:
    """The booklet, to read or print from the browser (its print stylesheet lays out pages)."""
    return HttpResponse(kit.booklet(hospital_model(), standalone=False))


@access(read=EVERYONE)
def kit_pdf(request: HttpRequest) -> HttpResponse:
    html = kit.booklet(hospital_model(), standalone=True)
    return documents.pdf_response(html, f"crisis-kit-{timezone.now():%Y%m%d-%H%M}.pdf")


@access(read=EVERYONE, write=CRISIS_CELL)
@require_http_methods(["GET", "POST"])
def contacts(request: HttpRequest) -> HttpResponse:
    model = hospital_model()
    form = ContactForm(model, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            with transaction.atomic():
                contact = form.save()
                record(request, "contact.create", contact, after=contact_state(contact))
            messages.success(request, _("Contact added."))
            return redirect("crisis:contacts")
        form_errors(request, form)
    context = {
        "contacts": Contact.objects.all(),
        "form": form,
        "can_write": in_cell(request),
        "sites": {s.id: s.name for s in model.sites.values()},
    }
    return render(request, "crisis/contacts.html", context)


@access(read=CRISIS_CELL, write=CRISIS_CELL)
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    model = hospital_model()
    contact = get_object_or_404(Contact, pk=contact_id)
    before = contact_state(contact)
    form = ContactForm(model, request.POST or None, instance=contact)
    if request.method == "POST":
        if form.is_valid():
            with transaction.atomic():
                contact = form.save(commit=False)
                contact.updated = timezone.now()
                contact.save()
                after = contact_state(contact)
                if after != before:
                    record(request, "contact.update", contact, before=before, after=after)
            messages.success(request, _("Contact saved."))
            return redirect("crisis:contacts")
        form_errors(request, form)
    return render(request, "crisis/contact_edit.html", {"form": form, "contact": contact})


@access(read=CRISIS_CELL, write=CRISIS_CELL)
@require_POST
def contact_retire(request: HttpRequest, contact_id: int) -> HttpResponse:
    """Retire a contact from the booklet (kept, so old booklets and the log still make sense),
    or bring a retired one back."""
    with transaction.atomic():
        contact = get_object_or_404(Contact.objects.select_for_update(), pk=contact_id)
        before = contact_state(contact)
        contact.active = not contact.active
        contact.updated = timezone.now()
        contact.save(update_fields=["active", "updated"])
        action = "contact.restore" if contact.active else "contact.retire"
        record(request, action, contact, before=before, after=contact_state(contact))
    return redirect("crisis:contacts")
