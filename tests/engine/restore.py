"""A compiled set as a hunt gets it from the rule cache."""

from __future__ import annotations

import pickle

from sentinelle.engine import CompiledRules


def restored(compiled: CompiledRules) -> CompiledRules:
    """``compiled`` with every bucket built, then pickled and unpickled (``load_compiled``'s
    cache entry): its buckets then come from their pickled form, not from a build."""
    compiled.warm()
    copy = pickle.loads(pickle.dumps(compiled))
    assert isinstance(copy, CompiledRules)
    return copy
