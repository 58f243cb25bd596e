"""Coverage-guided fuzzing: one target per parser of untrusted input (see run.py)."""
