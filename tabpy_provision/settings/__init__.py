"""The inventory's settings: every setting's name, role, default and check (table), the checks
of single values (value_checks), references to secrets kept elsewhere (secret_refs), and the one
base of this tool's refusals (errors). Importing the package imports none of them."""
