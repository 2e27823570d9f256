"""`python -m cgfast.cli`: the same as the `cgfast` command."""

from . import main

main()
