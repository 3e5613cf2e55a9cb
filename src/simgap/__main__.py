"""`python -m simgap` is the `simgap` command."""

from simgap.cli.app import main

main()
