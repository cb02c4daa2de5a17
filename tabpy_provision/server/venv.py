"""TabPy's virtualenv on a host (pyinfra): shipped finished from the controller's cache when a
host of its kind built it before, else built here and kept in that cache for the next ones
(wheelhouse/venvs.py). Hosts of one kind in one run wait for the first one's build instead of
each building their own; when that build fails, each builds its own."""

from __future__ import annotations

import shlex
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import gevent.event
from paramiko import SSHException
from pyinfra import host
from pyinfra.api import FunctionCommand, operation

from tabpy_provision.run import remote
from tabpy_provision.run.facts import FirstLine
from tabpy_provision.wheelhouse import venvs
from tabpy_provision.wheelhouse.venvs import VenvKind


@dataclass(frozen=True)
class VenvJob:
    kind: VenvKind
    wheelhouse: Path  # the wheelhouse archive, pushed when this host builds
    requirements: tuple[str, ...]
    work_dir: str
    nltk_archive: Path | None
    cache_dir: Path

    @property
    def lock(self) -> str:
        # One install or unpack at a time per host: one left running by a killed deploy
        # finishes (or dies) before the next starts.
        return f"{self.work_dir}.lock"


@operation()
def tabpy_venv(job: VenvJob):
    """The virtualenv of `job.kind`, complete (its marker holds its identity)."""
    if host.get_fact(FirstLine, path=f"{job.kind.venv}/{venvs.MARKER}") == job.kind.identity:
        return
    if not host.state.is_executing:
        how = ("shipped finished from the controller's cache"
               if venvs.cached(job.kind, job.cache_dir) else
               "built here (or on the first host of its kind in this run) and kept in the "
               "controller's cache")
        host.log_styled(f"virtualenv {job.kind.venv}: would be {how}")
    # A closure, not arguments: FunctionCommand's repr (shown at -vv) would print them.
    yield FunctionCommand(lambda state, host: _converge(host, job), (), {})


#: Per run: the builds under way, by kind (the waiters' event).
_builds: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _converge(target, job: VenvJob) -> bool:
    started = time.monotonic()
    if _ship(target, job, started):
        return True
    builds = _builds.setdefault(target.state, {})
    done = builds.get(job.kind.key)
    if done is None:  # this host builds for its kind
        builds[job.kind.key] = done = gevent.event.Event()
        try:
            built = _build(target, job)
            if built:
                _keep(target, job)
            return built
        finally:
            done.set()
    done.wait()
    return _ship(target, job, started) or _build(target, job)


def _ship(target, job: VenvJob, started: float) -> bool:
    """Unpack the cached finished virtualenv of this kind on the host (False: none is cached,
    or it was refused there, which is said)."""
    manifest = venvs.cached(job.kind, job.cache_dir)
    if manifest is None:
        return False
    status, _, err = remote.stream(
        target, venvs.unpack_command(job.kind.venv, job.kind.identity, manifest["sha256"],
                                     job.lock), job.kind.archive(job.cache_dir))
    if status != 0:
        target.log_styled(f"the finished virtualenv was refused ({_last_line(err)}); "
                          "building it here", fg="yellow")
        return False
    target.log_styled(f"virtualenv shipped finished from the controller's cache (built on "
                      f"{manifest['built_on']}, sha256 {manifest['sha256'][:12]}) in "
                      f"{time.monotonic() - started:.1f} s")
    return True


def _build(target, job: VenvJob) -> bool:
    """Push the wheelhouse (and NLTK data) and install from it on the host."""
    started = time.monotonic()
    work, lock = job.work_dir, job.lock
    q = shlex.quote
    ok, output = remote.run(target, f"flock {q(lock)} sh -c " + q(
        f"rm -rf {q(job.kind.venv)} {q(work)} && install -d -m 0700 {q(work)}"))
    said = "\n".join(output.stderr_lines)
    if ok:
        ok, said = remote.write_file(target, f"{work}/wheelhouse.tar", job.wheelhouse)
    if ok and job.nltk_archive is not None:
        ok, said = remote.write_file(target, f"{work}/nltk-data.tar", job.nltk_archive)
    if ok:
        ok, output = remote.run(target, f"flock {q(lock)} sh -c " + q(
            venvs.build_script(job.kind, job.requirements, work, job.nltk_archive is not None)))
        said = "\n".join(output.stderr_lines)
    if not ok:
        target.log_styled(f"building the virtualenv failed: {_last_line(said)}", fg="red")
        return False
    target.log_styled(f"virtualenv built here in {time.monotonic() - started:.1f} s")
    return True


def _keep(target, job: VenvJob) -> None:
    """Fetch the finished virtualenv into the controller's cache. A failure costs only speed
    (the next host of the kind builds its own): said, never fatal."""
    started = time.monotonic()
    received = venvs.incoming(job.cache_dir, job.kind)
    try:
        job.cache_dir.mkdir(parents=True, exist_ok=True)
        status, err = remote.fetch(target, venvs.pack_command(job.kind.venv), received)
        size = venvs.unpacked_bytes(err.decode(errors="replace"))
        if status != 0 or size is None:
            return _not_kept(target, _last_line(err))
        digest = venvs.store(received, job.kind, job.cache_dir, unpacked_bytes=size,
                             built_on=target.name)
    except (OSError, SSHException, EOFError) as error:  # a lost connection, a full disk here
        return _not_kept(target, f"{type(error).__name__}: {error}")
    finally:
        received.unlink(missing_ok=True)
    target.log_styled(f"finished virtualenv kept in the controller's cache (sha256 "
                      f"{digest[:12]}, {time.monotonic() - started:.1f} s)")


def _not_kept(target, why: str) -> None:
    target.log_styled(f"the finished virtualenv was not kept in the controller's cache ({why})",
                      fg="yellow")


def _last_line(said: bytes | str) -> str:
    text = said.decode(errors="replace") if isinstance(said, bytes) else said
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
