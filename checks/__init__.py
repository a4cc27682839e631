"""Bundled checks; installed as ``spotidoctor.checks``. Each module exports ``CHECKS``."""
