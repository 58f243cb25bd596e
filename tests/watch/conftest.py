"""The web app's fixtures (people of each role, signed-in clients, a rule folder of its own)."""

from tests.web.conftest import client_as, fast_hashing, people, rule_folder

__all__ = ["client_as", "fast_hashing", "people", "rule_folder"]
