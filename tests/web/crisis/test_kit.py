"""The crisis kit: contacts, the status snapshot and every service's procedure in one booklet,
served as a page and a PDF, and written ahead of time by ``sentinelle crisis-kit``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sentinelle.web.accounts.models import AuditEntry
from sentinelle.web.crisis.models import Contact

ROOT = Path(__file__).resolve().parents[3]


def pdf_text(data: bytes) -> str:
    pypdf = pytest.importorskip("pypdf")
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def pango_missing() -> str | None:
    """Why WeasyPrint cannot run here (a failure in CI, which installs Pango: tests/conftest.py)."""
    try:
        import weasyprint  # type: ignore[import-untyped]  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"WeasyPrint cannot run here: {exc}"
    return None


@pytest.mark.django_db
def test_contacts_are_kept_by_the_cell_and_audited(client_as: Any) -> None:
    data = {"role": "Director on duty", "name": "Claire Martin", "phones": "06 12 34 56 78",
            "radio": "Ch. 3", "site": "cen", "notes": "", "position": "1"}  # fmt: skip
    assert client_as("viewer").post("/crisis/contacts/", data).status_code == 403
    assert client_as("analyst").post("/crisis/contacts/", data).status_code == 403
    assert client_as("crisis").post("/crisis/contacts/", data).status_code == 302
    contact = Contact.objects.get()
    edited = {**data, "phones": "06 99 99 99 99"}
    client_as("crisis").post(f"/crisis/contacts/{contact.pk}/", edited)
    client_as("crisis").post(f"/crisis/contacts/{contact.pk}/retire/")
    contact.refresh_from_db()
    assert contact.phones == "06 99 99 99 99" and not contact.active
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert actions == ["contact.create", "contact.update", "contact.retire"]
    bad = client_as("crisis").post("/crisis/contacts/", {**data, "site": "atlantis"})
    assert bad.status_code == 200 and Contact.objects.count() == 1


@pytest.mark.django_db
def test_the_booklet_holds_contacts_status_and_procedures(client_as: Any) -> None:
    Contact.objects.create(role="IT on call", name="<script>alert(1)</script>", phones="4410")
    Contact.objects.create(role="Gone", name="Retired Person", phones="0", active=False)
    page = client_as("viewer").get("/crisis/kit/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "Retired Person" not in page
    assert 'id="cell-cen-emergency"' in page  # the status snapshot
    assert "plan blanc" in page  # the emergency runbook, rendered from the model's Markdown
    assert "ext. 4432" in page  # who to call, from the model (imaging's on-call)
    assert page.index("procedure-emergency") < page.index("procedure-pharmacy")  # vital first


@pytest.mark.django_db
@pytest.mark.skipif(pango_missing() is not None, reason=str(pango_missing()))
def test_the_booklet_as_a_pdf_holds_the_contacts(client_as: Any) -> None:
    Contact.objects.create(role="Director on duty", name="Claire Martin", phones="06 12 34 56 78")
    response = client_as("viewer").get("/crisis/kit/export.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "Claire Martin" in text and "06 12 34 56 78" in text


def test_runbooks_cannot_carry_markup() -> None:
    from sentinelle.web.crisis.kit import runbook_html

    html = str(runbook_html("# Title\n<script>x()</script> [a](javascript:alert(1)) **ok**"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "href=" not in html and "<strong>ok</strong>" in html  # a javascript: link stays text


@pytest.mark.skipif(pango_missing() is not None, reason=str(pango_missing()))
def test_the_command_writes_the_kit_ahead_of_time(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINELLE_", "DJANGO_"))}
    env["PYTHONPATH"] = str(ROOT)
    seed = [sys.executable, "-m", "tests.web.crisis.livestore", str(tmp_path / "data"), "seed"]
    subprocess.run(seed, cwd=ROOT, env=env, check=True, capture_output=True, timeout=180)
    for name in ("kit.pdf", "kit.html"):
        done = subprocess.run(
            [sys.executable, "-m", "sentinelle.cli.main", "crisis-kit", "--out",
             str(tmp_path / name), "--data-dir", str(tmp_path / "data"), "--language", "en"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    text = pdf_text((tmp_path / "kit.pdf").read_bytes())
    assert "Claire Martin" in text and "06 12 34 56 78" in text
    assert "Degraded-mode procedures" in text
    html = (tmp_path / "kit.html").read_text(encoding="utf-8")
    assert "Paul &lt;b&gt;Roux&lt;/b&gt;" in html and "<style>" in html  # stands alone
    refused = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "crisis-kit", "--out",
         str(tmp_path / "kit.pdf" / "inside"), "--data-dir", str(tmp_path / "data")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "cannot write the kit" in refused.stderr
