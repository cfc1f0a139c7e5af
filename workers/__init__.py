"""RQ jobs and the worker entry point (`python -m workers`). Thin layers over `bridge/`."""
