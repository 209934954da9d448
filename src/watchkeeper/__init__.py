"""Watchkeeper: monitor ML models in production with scheduled Prefect flows.

This package is the pure domain library (data in, reports out); the Prefect flows and tasks that
orchestrate it live in the repository's `flows/` and `tasks/` directories.
"""

__version__ = "0.1.0"
