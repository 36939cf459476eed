"""The growth study: grow a large model from a small one and follow a probed concept (`modinterp study growth`).

Modules, in the order the study uses them: `config` (GrowthStudyConfig), `data` (games, probe set, initial
weights), `models` (paired initial weights, the grown model), `run` (one condition x seed; `run_specs` for the
runner), `probing` (probe hook, probes.jsonl, controls), `results` (the writer of results.json) beside `schema`
(its typed reader, the only way report and analysis read it), `summary`, `gap` / `gap_report` (the gap
analysis and its report sections) and `study` (`run_growth_study`). Import from the modules: this package
imports nothing, so `modinterp.report` can read the schema without importing the study.
"""
