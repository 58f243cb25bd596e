"""Fixtures of the crisis room's tests: the worked hospital, a seat in the cell, observers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from sentinelle.hospital import HospitalModel
from sentinelle.web.accounts.models import User
from sentinelle.web.crisis import observed
from sentinelle.web.crisis.models import CellMembership
from tests.web.conftest import PASSWORD


@pytest.fixture
def model() -> HospitalModel:
    from sentinelle.web.sources import hospital_model

    return hospital_model()


@pytest.fixture
def seated_analyst(people: dict[str, User]) -> User:
    """An analyst who also sits in the crisis cell."""
    user = User.objects.create_user("seated-analyst", password=PASSWORD, role="analyst")
    CellMembership.objects.create(user=user, added_by=people["admin"])
    return user


@pytest.fixture
def login() -> Callable[[User], Client]:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def observations() -> Iterator[list[observed.Observation]]:
    """An observer the test fills: what the probes would say."""
    seen: list[observed.Observation] = []
    observed.register("test", lambda: list(seen))
    yield seen
    observed.unregister("test")


def status_of(site: str, service: str) -> Any:
    from sentinelle.web.crisis.models import ServiceStatus

    return ServiceStatus.objects.get(site=site, service=service)
