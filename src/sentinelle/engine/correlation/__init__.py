"""Sigma correlation rules over a stream of detections (sliding windows, bounded state).

``Correlator`` is the whole public surface the engine and the hunt use; ``parse_correlation``
parses one correlation document with pySigma while keeping the exact bounds pySigma cannot
model (ranges, fractions). docs/SEMANTICS.md, section "Correlations", states the semantics.
"""

from sentinelle.engine.correlation.correlator import (
    CorrelationLimits,
    CorrelationStats,
    Correlator,
    as_number,
    field_value,
)
from sentinelle.engine.correlation.model import (
    BaseRuleRef,
    Bound,
    CompiledCorrelation,
    Kind,
    Threshold,
    compile_correlations,
    parse_correlation,
)

__all__ = [
    "BaseRuleRef",
    "Bound",
    "CompiledCorrelation",
    "CorrelationLimits",
    "CorrelationStats",
    "Correlator",
    "Kind",
    "Threshold",
    "as_number",
    "compile_correlations",
    "field_value",
    "parse_correlation",
]
