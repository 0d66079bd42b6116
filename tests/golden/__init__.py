"""Golden wire files, one folder per protocol and case; see `tests/golden/files.py`."""
