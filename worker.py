"""Run an RQ worker on COS Cadence's queues (the same as `cos worker`)."""

from cos.cli import main

if __name__ == "__main__":
    main(["worker"])
