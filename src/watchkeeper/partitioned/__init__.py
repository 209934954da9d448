"""Partitioned evaluation: windows larger than the memory budget, as map → merge → finalize.

- `partitions`: what a partition is (Parquet row groups, a time range of any source, a frame slice)
  and how one is read;
- `keys`: the first pass, duplicates across partitions (request ids, unique columns);
- `state`: each check's partial state per partition, the merge, and the sections from merged state;
- `sketch`: the mergeable histograms behind order statistics, with their error bounds;
- `estimates`: CBPE's and DLE's estimates and the gap test from mergeable sums;
- `multivariate`: multivariate drift (PCA reconstruction error, the domain classifier's sample);
- `segments`: the per-segment sections, the window's states grouped by segment value;
- `validation`: Great Expectations per partition, merged;
- `engine`: planning a window, the local (thread pool) and Dask engines, the report;
- `agreement`: comparing a partitioned report with the in-memory one (tests, benchmarks).

See `docs/scaling.md` for when it applies and which figures become approximate.
"""
