"""The rule model: Sigma rules, filters and correlations read with pySigma; logsource mapping.

The pySigma-based loader lives in :mod:`sentinelle.sigma.loader` and is imported from there,
so that what only needs the logsource map or the list of rule files (a hunt from the rule
cache) does not import pySigma.
"""

from sentinelle.errors import RuleError
from sentinelle.sigma.files import rule_files
from sentinelle.sigma.logsources import LogsourceMap, Source, load_logsource_map

__all__ = [
    "LogsourceMap",
    "RuleError",
    "Source",
    "load_logsource_map",
    "rule_files",
]
