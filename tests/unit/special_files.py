"""Files that are not regular files, for the tests of what reads refuse them."""

from __future__ import annotations

import os
import socket


def special_file(kind: str, path):
    """A non-regular file of `kind` at `path`, 0600 where its kind has a mode of its own; a
    socket is returned (close it when done)."""
    if kind == "FIFO":
        os.mkfifo(path, 0o600)
    elif kind == "folder":
        path.mkdir(mode=0o700)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        path.chmod(0o600)
        return server
    elif kind == "character device":
        path.symlink_to("/dev/zero")  # 0666: refused for its kind, not only its mode
    return None
