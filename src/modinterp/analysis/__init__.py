"""modinterp.analysis: does a gap between two training curves persist? Curve families fitted by variable projection,
seed-level and block bootstraps with a few-seed t-interval, prefix CV, horizon stability, verdict tables and plots
(docs/analysis.md)."""
