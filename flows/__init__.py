"""Prefect flows: wiring only. Each file defines the flow it is named after."""
