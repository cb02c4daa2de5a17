"""What the TabPy and Rserve renderers share: the Jinja2 environment of the templates."""
