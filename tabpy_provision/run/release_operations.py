"""A release folder on the host, the links that pick the active one, and pruning (pyinfra
side of run/release.py)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from tabpy_provision.run import remote
from tabpy_provision.run.facts import IntactManifest, LinkName, PasswordFileUsers, SubfoldersByAge
from tabpy_provision.run.release import CHECKSUMS, MANIFEST, Release


@operation()
def release_folder(config_dir: str, release: Release, users: tuple[str, ...], service: str,
                   names_lowered: bool = True):
    """The release folder, complete and intact; built in a staging folder and renamed into
    place, so a half-built release never exists under its name. Every file's bytes go from
    memory through remote.upload (never a file another user can read) and are never diffed."""
    releases = f"{config_dir}/releases"
    target = f"{releases}/{release.name}"
    if host.get_fact(IntactManifest, path=target) == release.manifest:
        return
    _announce_changes(config_dir, release, users, service, names_lowered)
    staging = f"{releases}/.staging-{release.name}"
    group = next(f.group for f in release.files)
    subfolders = sorted({f"{staging}/{item.path.rsplit('/', 1)[0]}" for item in release.files
                         if "/" in item.path})
    yield StringCommand("rm -rf", QuoteString(staging), QuoteString(target),
                        "&& install -d -m 0750 -o root -g", group, QuoteString(staging),
                        *map(QuoteString, subfolders))
    for item in release.files:
        yield remote.upload(item.content, f"{staging}/{item.path}", mode=item.mode,
                            owner=item.owner, group=item.group)
    yield remote.upload(release.checksums.encode(), f"{staging}/{CHECKSUMS}", mode="0644")
    if release.venv is not None:
        yield StringCommand("ln -s", QuoteString(release.venv), QuoteString(f"{staging}/venv"))
    # The manifest goes last: a release folder without it is incomplete.
    yield remote.upload(release.manifest.encode(), f"{staging}/{MANIFEST}", mode="0644")
    yield StringCommand("sync -f", QuoteString(staging), "&& mv -T", QuoteString(staging),
                        QuoteString(target))


def _announce_changes(config_dir: str, release: Release, users: tuple[str, ...],
                      service: str, names_lowered: bool) -> None:
    """Say what the new release changes against the active one: file names and user names,
    never contents or hashes."""
    active = host.get_fact(IntactManifest, path=f"{config_dir}/current") or ""
    changed = sorted(set(release.manifest.splitlines()) - set(active.splitlines()))
    names = [line.split(" ")[0] for line in changed]
    verb = "" if host.state.is_executing else "would be "
    host.log_styled(f"release {release.name}: {verb}changed: {', '.join(names)}")
    present = set(host.get_fact(PasswordFileUsers, path=f"{config_dir}/current/passwords",
                                lowered=names_lowered))
    added, removed = sorted(set(users) - present), sorted(present - set(users))
    if added or removed:
        host.log_styled(f"{service} users " + "; ".join(
            f"{verb}{what}: {', '.join(who)}" for what, who in
            (("added", added), ("removed", removed)) if who))


def switched(config_dir: str, current: str | None,
             release_name: str) -> tuple[list[StringCommand], str | None]:
    """The commands making `release_name` current (the current one becomes `previous`), and
    the release a failed start rolls back to."""
    if current == release_name:
        return [], host.get_fact(LinkName, path=f"{config_dir}/previous")
    commands = [switch_command(config_dir, "previous", current)] if current else []
    return [*commands, switch_command(config_dir, "current", release_name)], current


def switch_command(config_dir: str, link: str, release_name: str) -> StringCommand:
    """Point `link` at a release by an atomic rename (never a moment without the link)."""
    return StringCommand("cd", QuoteString(config_dir), "&& ln -sfn",
                         QuoteString(f"releases/{release_name}"), QuoteString(f".{link}.new"),
                         "&& mv -T", QuoteString(f".{link}.new"), QuoteString(link))


@operation()
def prune_releases(config_dir: str, keep: int):
    """Remove old releases: never the current or previous one, at most `keep` in all."""
    names = host.get_fact(SubfoldersByAge, path=f"{config_dir}/releases")
    protected = {host.get_fact(LinkName, path=f"{config_dir}/{link}")
                 for link in ("current", "previous")} - {None}
    kept = [*protected, *[n for n in names if n not in protected]][:max(keep, len(protected))]
    for name in names:
        if name not in kept:
            yield StringCommand("rm -rf", QuoteString(f"{config_dir}/releases/{name}"))
