"""Celery tasks. They stay thin: the work lives in ``delivery`` and ``sinks``."""
