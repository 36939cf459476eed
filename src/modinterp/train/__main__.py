"""`python -m modinterp.train ...` = `modinterp train ...`; handy under `torchrun --nproc_per_node=2 -m modinterp.train`."""

import typer

from modinterp.cli.train import train_command

if __name__ == "__main__":
    typer.run(train_command)
