"""`tabpy-provision wheelhouse build|lock`: build (prefetch) wheelhouses, or refresh their locks
and the extras locks of extra requirements (wheelhouse/build.py, lock.py, extras.py)."""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tabpy_provision.cli.common import OK, Refused
from tabpy_provision.wheelhouse.archive_cache import sha256_file
from tabpy_provision.wheelhouse.build import ensure_wheelhouse
from tabpy_provision.wheelhouse.pinning import (
    GLIBC_MAX,
    TABPY_VERSION_DEFAULT,
    WheelhouseError,
    glibc_floor,
    parse_lock,
)


def glibc_version(text: str) -> tuple[int, int]:
    """ "2.28" -> (2, 28)."""
    try:
        major, minor = (int(part) for part in text.split("."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a glibc version like 2.28") from None
    return major, minor


def register(commands) -> None:
    parser = commands.add_parser(
        "wheelhouse", help="build (prefetch) TabPy wheelhouses, or refresh their locks",
        description="Build (prefetch) wheels-only TabPy wheelhouses, or refresh their locks.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("build", "build/cache the archives"), ("lock", "write the lock files")):
        cmd = sub.add_parser(name, help=text)
        cmd.set_defaults(func=run)
        cmd.add_argument("--abi", action="append", required=True, help="cp311, cp313 (repeat)")
        cmd.add_argument("--tabpy-version", default=TABPY_VERSION_DEFAULT)
        cmd.add_argument("--arch", default="x86_64")
        cmd.add_argument("--python", default=sys.executable, help="interpreter whose pip runs")
        cmd.add_argument("--requirement", action="append", default=[], metavar="REQ",
                         help="extra requirement resolved with TabPy's pins (repeat)")
        cmd.add_argument("--locks-dir", type=Path, default=Path("locks"),
                         help="folder of the extras locks (default: ./locks)")
    build = sub.choices["build"]
    build.add_argument("--cache-dir", type=Path, help="default: <cache>/wheelhouse")
    build.add_argument("--force", action="store_true", help="rebuild even when cached")
    build.add_argument("--glibc", type=glibc_version, default=GLIBC_MAX, metavar="X.Y",
                       help="the hosts' glibc when older than 2.36, e.g. 2.28 for RHEL 8 "
                            "(`getconf GNU_LIBC_VERSION` on a host)")


def run(args) -> int:
    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        if args.command == "lock":
            for abi in args.abi:
                lock_one(args, abi, log)
        else:  # each ABI's downloads at the same time (separate folders and archive locks)
            together(args.abi, lambda abi: build_one(args, abi, log))
    except WheelhouseError as exc:
        raise Refused(str(exc).splitlines()) from None
    return OK


def together(abis: list[str], fn) -> None:
    """fn(abi) for every ABI, each in a thread of its own; every one runs to its end, then the
    errors of all are raised together (WheelhouseError, one line per ABI, named when several)."""
    errors = []
    wanted = list(dict.fromkeys(abis))
    with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
        futures = {abi: pool.submit(fn, abi) for abi in wanted}
        for abi, future in futures.items():
            try:
                future.result()
            except WheelhouseError as exc:
                errors.append(f"{abi}: {exc}" if len(wanted) > 1 else str(exc))
    if errors:
        raise WheelhouseError("\n".join(errors))


def lock_one(args, abi: str, log) -> None:
    from tabpy_provision.wheelhouse import lock as wl

    started = time.monotonic()
    path = wl.write_extras_lock(
        args.tabpy_version, abi, args.arch, args.requirement, args.locks_dir,
        python=args.python, log=log,
    ) if args.requirement else wl.write_lock(
        args.tabpy_version, abi, args.arch, python=args.python, log=log)
    count = len(parse_lock(path.read_text()))
    print(f"{path}  {count} pins  {time.monotonic() - started:.1f} s", flush=True)


def build_one(args, abi: str, log) -> None:
    started = time.monotonic()
    lock_text = None
    if args.requirement:
        from tabpy_provision.wheelhouse.extras import read_extras_lock

        lock_text = read_extras_lock(args.tabpy_version, abi, args.arch, args.requirement,
                                     args.locks_dir)
    found = ensure_wheelhouse(
        args.tabpy_version, abi, arch=args.arch, cache_dir=args.cache_dir,
        python=args.python, log=log, force=args.force, lock_text=lock_text,
        glibc=glibc_floor(args.glibc))
    size = found.archive.stat().st_size / 1e6
    print(f"{found.archive}  {size:.1f} MB  sha256 {sha256_file(found.archive)}  "
          f"{time.monotonic() - started:.1f} s", flush=True)
