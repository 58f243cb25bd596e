"""What the web app reads beside the store: the hospital model and the rule files.

Inside ``sentinelle serve`` they are the service's own (its configuration's ``model`` and
``rules``, through the installed runtime). Elsewhere (tests, a web app run on its own)
``SENTINELLE_MODEL`` (a model file) and ``SENTINELLE_RULES`` (rule files or folders separated by
``os.pathsep``) choose them, else the worked example and the hunt's default rule sets. Both are
loaded once per process.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from sentinelle.hospital import HospitalModel, example_model_path, load_model
from sentinelle.sigma.lookup import RuleIndex


def _service_config() -> Any:
    from sentinelle.service.runtime import current

    runtime = current()
    service = runtime.extras.get("service") if runtime is not None else None
    return getattr(service, "config", None)


@functools.cache
def hospital_model() -> HospitalModel:
    config = _service_config()
    if config is not None:
        return load_model(config.model_path())
    configured = os.environ.get("SENTINELLE_MODEL", "").strip()
    return load_model(Path(configured) if configured else example_model_path())


def rule_paths() -> list[Path]:
    """The rule files and folders of the service (or of ``SENTINELLE_RULES``, or the hunt's)."""
    config = _service_config()
    if config is not None:
        return list(config.rule_paths())
    configured = os.environ.get("SENTINELLE_RULES", "").strip()
    if configured:
        return [Path(p) for p in configured.split(os.pathsep) if p]
    from sentinelle.hunt.rulesets import default_rule_paths

    return default_rule_paths()


@functools.cache
def rule_index() -> RuleIndex:
    return RuleIndex(rule_paths())


def technique_url(technique: str) -> str:
    """ATT&CK's page of a technique id (``t1059.001`` -> .../techniques/T1059/001/)."""
    main, _, sub = technique.upper().partition(".")
    return f"https://attack.mitre.org/techniques/{main}/{sub + '/' if sub else ''}"
