"""The Jinja2 environment of the package's `templates/` (mirrors target paths), shared by the
TabPy and Rserve renderers. Pure."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


@cache
def environment() -> jinja2.Environment:
    """Undefined names fail; blocks leave no blank lines; nothing is HTML-escaped."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
