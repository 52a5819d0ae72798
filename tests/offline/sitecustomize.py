"""Loaded by every Python process started with this folder on PYTHONPATH: installs the offline guard
when DLCOURSE_OFFLINE=1 (set by tests/conftest.py)."""
import os

if os.environ.get("DLCOURSE_OFFLINE") == "1":
    import dlcourse_offline

    dlcourse_offline.install()
