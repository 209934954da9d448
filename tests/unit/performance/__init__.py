"""Unit tests of watchkeeper.performance (no Prefect)."""
