"""`python -m tabpy_provision`: the same as the `tabpy-provision` command."""

import sys

from tabpy_provision.cli.main import main

sys.exit(main())
