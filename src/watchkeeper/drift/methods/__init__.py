"""Drift method implementations; importing this package registers every method.

- `numerical`: tests on order statistics of numerical columns (ks, wasserstein, anderson,
  cramer_von_mises, ed, es, t_test, mannw, empirical_mmd), all working from values sorted once.
- `categorical`: tests on category counts (chisquare, z, g_test, fisher_exact, TVD).
- `binned`: distances between binned distributions, for both kinds (jensenshannon, psi, kl_div,
  hellinger), using Evidently's binning and empty-bin conventions.
"""

from watchkeeper.drift.methods import binned, categorical, numerical

__all__ = ["binned", "categorical", "numerical"]
