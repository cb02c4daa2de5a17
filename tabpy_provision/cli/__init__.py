"""The command line: `tabpy-provision SUBCOMMAND` (main.py), one module per subcommand or group of
jobs; they share common.py and never import each other."""
