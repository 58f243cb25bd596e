from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "sentinelle.web.accounts"
    label = "accounts"
    verbose_name = "Accounts, tokens and audit trail"
