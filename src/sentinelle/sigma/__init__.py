"""The rule model: Sigma rules, filters and correlations read with pySigma; logsource mapping."""

from sentinelle.errors import RuleError
from sentinelle.sigma.loader import RuleSet, load_rules, location_of, rule_files
from sentinelle.sigma.logsources import LogsourceMap, Source, load_logsource_map

__all__ = [
    "LogsourceMap",
    "RuleError",
    "RuleSet",
    "Source",
    "load_logsource_map",
    "load_rules",
    "location_of",
    "rule_files",
]
