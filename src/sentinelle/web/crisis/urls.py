from __future__ import annotations

from django.urls import path

from sentinelle.web.crisis.views import admin, board, clocks, kit, log

app_name = "crisis"
urlpatterns = [
    path("", board.board, name="board"),
    path("stream/", board.board_stream, name="stream"),
    path("kiosk/", board.kiosk, name="kiosk"),
    path("print/", board.board_print, name="print"),
    path("changes/", board.changes, name="changes"),
    path("cell/<str:site>/<str:service>/", board.cell, name="cell"),
    path("declarations/<int:declaration_id>/end/", board.declaration_end, name="declaration-end"),
    path("screen/<str:key>/", board.screen, name="screen"),
    path("screen/<str:key>/stream/", board.screen_stream, name="screen-stream"),
    path("log/", log.log_view, name="log"),
    path("log/<int:entry_id>/correct/", log.log_correct, name="log-correct"),
    path("log/print/", log.log_print, name="log-print"),
    path("log/export.pdf", log.log_pdf, name="log-pdf"),
    path("log/export.json", log.log_json, name="log-json"),
    path("clocks/", clocks.clock_list, name="clocks"),
    path("clocks/settings/", clocks.clock_settings, name="clock-settings"),
    path("clocks/<int:clock_id>/", clocks.clock_detail, name="clock"),
    path("clocks/<int:clock_id>/sent/", clocks.clock_sent, name="clock-sent"),
    path("clocks/<int:clock_id>/print/", clocks.clock_print, name="clock-print"),
    path("clocks/<int:clock_id>/export.pdf", clocks.clock_pdf, name="clock-pdf"),
    path("clocks/<int:clock_id>/export.json", clocks.clock_json, name="clock-json"),
    path("incidents/<int:incident_id>/significant/", clocks.significance, name="significance"),
    path("kit/", kit.kit_page, name="kit"),
    path("kit/export.pdf", kit.kit_pdf, name="kit-pdf"),
    path("contacts/", kit.contacts, name="contacts"),
    path("contacts/<int:contact_id>/", kit.contact_edit, name="contact"),
    path("contacts/<int:contact_id>/retire/", kit.contact_retire, name="contact-retire"),
    path("screens/", admin.screens, name="screens"),
    path("screens/<int:screen_id>/revoke/", admin.screen_revoke, name="screen-revoke"),
    path("members/", admin.cell_members, name="members"),
    path("members/<int:seat_id>/remove/", admin.cell_remove, name="member-remove"),
]
