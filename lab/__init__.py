"""Disposable systemd-booted Debian lab hosts (stdlib only): `python -m lab up|down|status`."""
