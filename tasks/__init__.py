"""Prefect tasks: thin wrappers over `watchkeeper` functions adding retries, clients and artifacts."""
