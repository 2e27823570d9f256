"""`python -m cgfast`: the same command line as the `cgfast` console script."""

from .cli import main

main()
