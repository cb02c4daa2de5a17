"""The whole site, in order: TabPy servers (more roles join here as they are built)."""

from pyinfra import local

local.include("deploy/tabpy.py")
