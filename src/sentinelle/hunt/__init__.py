"""``sentinelle hunt``: readers and the Sigma engine over files in parallel, then timelines.

``run.py`` orchestrates (workers, merge, correlation, filters), ``outputs/`` writes the
timelines, ``update.py`` fetches the SigmaHQ rule package, ``rulesets.py`` says which rules a
hunt uses by default.
"""
