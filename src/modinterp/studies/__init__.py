"""modinterp.studies: the only place that wires experiments, one subpackage per study.

`runner` runs any study's runs (`RunSpec`s) through an `executors.Executor` (local processes or submitit/SLURM);
`growth/` is the growth study (`modinterp study growth`), with its results schema beside its writer.
"""
