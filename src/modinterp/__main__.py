"""`python -m modinterp ...`: the same command line as `modinterp ...`."""

from modinterp.cli import main

main()
