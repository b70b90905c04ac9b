"""fuzzmm: find ordering bugs in concurrent reference-counting and locking code."""
__version__ = "0.1.0"
