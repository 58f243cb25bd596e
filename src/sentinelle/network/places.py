"""Where an address is in the hospital: the ``locate`` the network detectors take.

A class rather than a closure, so that a detector holding it pickles (the service checkpoints
its detectors' state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentinelle.hospital import HospitalModel


class ModelPlaces:
    """``places(ip)``: the site, services, asset and zone of an address in the model, or None."""

    def __init__(self, model: HospitalModel) -> None:
        self.model = model

    def __call__(self, ip: str) -> dict[str, Any] | None:
        asset = self.model.locate_ip(ip)
        if asset is None:
            return None
        return {
            "site": asset.site,
            "service": list(asset.carries),
            "asset": asset.id,
            "zone": asset.zone,
        }
