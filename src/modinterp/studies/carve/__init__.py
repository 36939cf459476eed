"""modinterp.studies.carve: carving trained networks into modules (`modules.py`: the modules of a run;
`sweep.py`: the modularity-loss lambda sweep on planted modules; `describe_run.py`: descriptions of a run's
modules; `planted.py`: the planted-description check)."""
