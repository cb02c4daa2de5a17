"""The one base of this tool's refusals."""

from __future__ import annotations


class ProvisionError(Exception):
    """Something this tool refuses, said in one line an operator can act on: `host: field:
    problem`, with the host (its inventory name) and the field (the setting) where they are
    known. Subclasses say which part of the tool refused; `except ProvisionError` catches all."""

    #: What is known of where the problem is (a subclass may name its one field).
    host: str | None = None
    field: str | None = None

    def __init__(self, problem: str, *, host: str | None = None, field: str | None = None):
        super().__init__(": ".join(part for part in (host, field, problem) if part))
        if host is not None:
            self.host = host
        if field is not None:
            self.field = field
