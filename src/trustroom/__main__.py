"""`python -m trustroom` runs the command line."""

from .cli import main

main()
