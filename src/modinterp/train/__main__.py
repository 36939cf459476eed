"""`python -m modinterp.train ...` = `modinterp train ...`; handy under `torchrun --nproc_per_node=2 -m modinterp.train`."""

import sys

from modinterp.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
