"""What the web app reads beside the store: the hospital model and the rule files.

``sentinelle serve`` tells the web app which ones it uses through the environment, as it tells
it the data folder: ``SENTINELLE_MODEL`` (a model file; the worked example otherwise) and
``SENTINELLE_RULES`` (rule files or folders separated by ``os.pathsep``; the hunt's defaults
otherwise). Both are loaded once per process.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from sentinelle.hospital import HospitalModel, example_model_path, load_model
from sentinelle.sigma.lookup import RuleIndex


@functools.cache
def hospital_model() -> HospitalModel:
    configured = os.environ.get("SENTINELLE_MODEL", "").strip()
    return load_model(Path(configured) if configured else example_model_path())


@functools.cache
def rule_index() -> RuleIndex:
    configured = os.environ.get("SENTINELLE_RULES", "").strip()
    if configured:
        paths = [Path(p) for p in configured.split(os.pathsep) if p]
    else:
        from sentinelle.hunt.rulesets import default_rule_paths

        paths = default_rule_paths()
    return RuleIndex(paths)


def technique_url(technique: str) -> str:
    """ATT&CK's page of a technique id (``t1059.001`` -> .../techniques/T1059/001/)."""
    main, _, sub = technique.upper().partition(".")
    return f"https://attack.mitre.org/techniques/{main}/{sub + '/' if sub else ''}"
