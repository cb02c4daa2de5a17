"""Wheels-only TabPy wheelhouses built on the controller: their build and cache (build), the
pinned wheel sets in locks/ (lock refreshes them), extra requirements on top (extras), and NLTK
data from registry packages (nltk_data). Its command: `tabpy-provision wheelhouse`
(cli/wheelhouse.py)."""
