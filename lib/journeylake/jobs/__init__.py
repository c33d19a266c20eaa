"""Job entry points. Each module has `main(argv=None)`, reached by the `journeylake` console
script, by `python -m journeylake.jobs.<name>` and by `spark-submit jobs/<name>.py`."""
