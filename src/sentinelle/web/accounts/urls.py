from __future__ import annotations

from django.urls import path

from sentinelle.web.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("account/password/", views.password_change, name="password"),
    path("admin/users/", views.users, name="users"),
    path("admin/users/new/", views.user_create, name="user-create"),
    path("admin/users/<int:user_id>/", views.user_edit, name="user-edit"),
    path("admin/users/<int:user_id>/password/", views.user_password, name="user-password"),
    path("admin/tokens/", views.tokens, name="tokens"),
    path("admin/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("admin/audit/", views.audit, name="audit"),
]
