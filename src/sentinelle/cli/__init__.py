"""The ``sentinelle`` command line: one module per command family, registered in ``main``."""
