"""`python -m modinterp ...`: the same command line as `modinterp ...`."""

from modinterp.cli import main

if __name__ == "__main__":
    main()
