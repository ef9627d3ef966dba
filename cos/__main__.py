"""Run the `cos` command as `python -m cos`."""

from cos.cli import main

main()
