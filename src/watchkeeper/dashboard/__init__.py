"""The per-model dashboard: one offline HTML page from MLflow figures and the state database."""

from watchkeeper.dashboard.data import (
    DashboardData,
    DashboardEvent,
    DashboardWindow,
    collect_dashboard_data,
    figures_from_metrics,
)
from watchkeeper.dashboard.page import PANELS, build_figures, render_dashboard

__all__ = [
    "PANELS",
    "DashboardData",
    "DashboardEvent",
    "DashboardWindow",
    "build_figures",
    "collect_dashboard_data",
    "figures_from_metrics",
    "render_dashboard",
]
