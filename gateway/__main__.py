"""`python -m gateway [options]` is `gateway serve [options]`."""

import sys

from gateway.cli import main

main(["serve", *sys.argv[1:]])
