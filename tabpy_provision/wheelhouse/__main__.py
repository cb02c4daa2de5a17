"""`python -m tabpy_provision.wheelhouse`: the documented name of wheelhouse_cli.py."""

import sys

from tabpy_provision.wheelhouse_cli import main

sys.exit(main())
