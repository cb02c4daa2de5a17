"""The rules of what an archive's tar may hold (archive_members): every class of bad member,
generated into good trees, is refused by name; and every symbolic link the rules accept stays
inside its folder once GNU tar extracted it (the kernel resolves it)."""

import errno
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabpy_provision.backup import archive_members as am
from tabpy_provision.backup import commands as backup_commands
from tests.unit.crafted import Entry, tar_of

STATE = "var/lib/tabpy/state"
ROOTS = ("/" + STATE,)
NAMES = st.sampled_from(["a", "b", "c", "m.pkl", "1"])


def members(entries: list[Entry], tmp_path: Path) -> list[am.Member]:
    return am.read_members(tar_of(entries, tmp_path / f"t{len(list(tmp_path.iterdir()))}.tar"))


@st.composite
def good_trees(draw, with_links: bool = True) -> list[Entry]:
    """A state folder as GNU tar lists it: folders before what they hold, files, FIFOs, hard
    links to earlier files, relative symbolic links that stay inside (when `with_links`)."""
    entries, folders, files = [Entry(STATE, "dir")], [STATE], []
    for _ in range(draw(st.integers(0, 12))):
        parent = draw(st.sampled_from(folders))
        name = f"{parent}/{draw(NAMES)}"
        if any(e.name == name or e.name.startswith(name + "/") for e in entries):
            continue
        kind = draw(st.sampled_from(["dir", "file", "fifo", "hardlink", "symlink"]
                                    if with_links else ["dir", "file"]))
        if kind == "hardlink" and not files:
            kind = "file"
        if kind == "symlink":
            depth = name.count("/") - STATE.count("/") - 1  # folders between it and the root
            target = "/".join([".."] * draw(st.integers(0, depth)) + [draw(NAMES)])
            entries.append(Entry(name, "symlink", target))
            continue
        entries.append(Entry(name, kind, draw(st.sampled_from(files)) if kind == "hardlink"
                             else "", b"x" if kind == "file" else b""))
        (folders if kind == "dir" else files if kind == "file" else []).append(name)
    return entries


CORRUPTIONS = ["absolute", "dot-dot", "dot", "empty part", "duplicate", "link out",
               "absolute link", "hard link ahead", "hard link to a folder", "device",
               "below a link", "below a file", "fifo outside", "folder outside"]


def corrupt(entries: list[Entry], how: str, draw) -> tuple[list[Entry], str]:
    """`entries` with one bad member; the path the refusal must name."""
    at = draw(st.integers(1, len(entries)))
    base = draw(st.sampled_from([e.name for e in entries[:at]]))
    name = f"{base}/{draw(NAMES)}x"
    bad = {
        "absolute": Entry("/" + name),
        "dot-dot": Entry(name.replace("/", "/../", 1)),
        "dot": Entry(name.replace("/", "/./", 1)),
        "empty part": Entry(name.replace("/", "//", 1)),
        "duplicate": entries[draw(st.integers(0, at - 1))],
        "link out": Entry(name, "symlink", "/".join([".."] * (name.count("/") - 2)) + "/x"),
        "absolute link": Entry(name, "symlink", "/" + STATE + "/a"),
        "hard link ahead": Entry(name, "hardlink", f"{STATE}/later"),
        "hard link to a folder": Entry(name, "hardlink", STATE),
        "device": Entry(name, draw(st.sampled_from(["char", "block"]))),
        "below a link": None, "below a file": None,
        "fifo outside": Entry(f"var/lib/tabpy/{draw(NAMES)}", "fifo"),
        "folder outside": Entry(f"etc/{draw(NAMES)}", "dir"),
    }[how]
    if how in ("below a link", "below a file"):
        parent = f"{STATE}/{draw(NAMES)}q"
        entries = [*entries[:at], Entry(parent, "symlink", "a") if how == "below a link"
                   else Entry(parent, data=b"f"), *entries[at:]]
        at += 1
        bad = Entry(f"{parent}/x")
    if how == "hard link ahead":
        entries = [*entries, Entry(f"{STATE}/later", data=b"l")]
    if how == "duplicate" and bad.name == STATE:
        bad = Entry(STATE, "dir")
    shown = "/" + bad.name
    return [*entries[:at], bad, *entries[at:]], shown


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), how=st.sampled_from(CORRUPTIONS))
def test_every_class_of_bad_member_is_refused_by_name(tmp_path, data, how):
    entries = data.draw(good_trees())
    assert am.problem(members(entries, tmp_path), ROOTS) is None
    crafted, shown = corrupt(entries, how, data.draw)
    found = am.problem(members(crafted, tmp_path), ROOTS)
    assert found is not None and found.startswith(f"{shown}: "), (how, found)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=good_trees(with_links=False), kind=st.sampled_from(
    ["dir", "symlink", "hardlink", "fifo", "char"]))
def test_the_controller_state_takes_regular_files_only(tmp_path, entries, kind):
    files = [e for e in entries if e.type == "file"]
    assert am.problem(members(files, tmp_path), ()) is None
    other = Entry(f"{STATE}/other", kind, f"{STATE}/a" if kind != "symlink" else "a")
    found = am.problem(members([*files, other], tmp_path), ())
    assert found is not None and found.startswith(f"/{STATE}/other: "), found


@st.composite
def linked_trees(draw) -> list[Entry]:
    """Folders and files with symbolic links whose targets climb and descend at random,
    through one another: accepted or not."""
    entries = draw(good_trees(with_links=False))
    folders = [e.name for e in entries if e.type == "dir"]
    for _ in range(draw(st.integers(1, 6))):
        name = f"{draw(st.sampled_from(folders))}/{draw(NAMES)}l"
        if any(e.name == name for e in entries):
            continue
        steps = ["..", "..", ".", *{e.name.rsplit("/", 1)[1] for e in entries[1:]}]
        parts = draw(st.lists(st.sampled_from(steps), min_size=1, max_size=6))
        entries.append(Entry(name, "symlink", "/".join(parts)))
        if draw(st.booleans()):  # and one through it: `..` after a link goes up from its target
            climb = "/".join([".."] * draw(st.integers(1, 5)))
            entries.append(Entry(f"{name}x", "symlink", f"{name.rsplit('/', 1)[1]}/{climb}"))
    return entries


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=linked_trees())
def test_every_accepted_link_stays_inside_once_extracted(tmp_path, entries):
    """The rules are checked against the kernel: GNU tar extracts the accepted tree (with the
    restore's command, under another name), then every link resolves inside the folder."""
    tar = tar_of(entries, tmp_path / f"t{len(list(tmp_path.iterdir()))}.tar")
    if am.problem(am.read_members(tar), ROOTS) is not None:
        return
    root = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
    root.mkdir()
    subprocess.run(backup_commands.extract_command(
        str(tar), [("/" + STATE, "/elsewhere/state")], into=str(root)), shell=True, check=True)
    inside = (root / "elsewhere/state").resolve()
    for entry in entries:
        if entry.type == "symlink":
            path = root / "elsewhere/state" / entry.name[len(STATE) + 1:]
            assert path.is_symlink()
            try:
                resolved = Path(os.path.realpath(path, strict=True))
            except OSError as error:  # the kernel reaches nothing through it (a loop, a
                # name missing or a file on the way), whatever realpath would make of it
                assert error.errno in (errno.ELOOP, errno.ENOENT, errno.ENOTDIR), error
                continue
            assert resolved == inside or inside in resolved.parents, (entry, resolved)


def test_a_link_through_a_shallower_link_is_followed_as_the_kernel_does(tmp_path):
    """Read as text, state/a/b/e -> d/../../.. ends at state; the kernel follows d first
    (to state/q) and ends two folders above state."""
    entries = [Entry(STATE, "dir"), Entry(f"{STATE}/a", "dir"), Entry(f"{STATE}/a/b", "dir"),
               Entry(f"{STATE}/q", "dir"), Entry(f"{STATE}/a/b/d", "symlink", "../../q"),
               Entry(f"{STATE}/a/b/e", "symlink", "d/../../..")]
    assert am.problem(members(entries[:5], tmp_path), ROOTS) is None
    assert am.problem(members(entries, tmp_path), ROOTS) == (
        f"/{STATE}/a/b/e: symbolic link to 'd/../../..': only relative links that stay inside "
        f"/{STATE} are kept")


@pytest.mark.parametrize("entries, message", [
    ([Entry("var/lib/tabpy/state/x")],
     "/var/lib/tabpy/state: not in the archive, which must hold this folder"),
    ([Entry(STATE, "symlink", "/data/state")], f"/{STATE}: a symbolic link, not a folder"),
    ([Entry(STATE, "dir"), Entry(f"{STATE}/up", "symlink", "a/../..")],
     f"/{STATE}/up: symbolic link to 'a/../..': only relative links that stay inside "
     f"/{STATE} are kept"),
    ([Entry(STATE, "dir"), Entry(f"{STATE}/loop", "symlink", "loop/..")], None),
    ([Entry(STATE, "dir"), Entry(f"{STATE}/s", "symlink", "l"), Entry(f"{STATE}/l", "hardlink",
                                                                        f"{STATE}/s")],
     f"/{STATE}/l: hard link to /{STATE}/s, a symbolic link"),
])
def test_refusals_say_why_in_one_line(tmp_path, entries, message):
    assert am.problem(members(entries, tmp_path), ROOTS) == message


def test_nested_state_folders_count_once():
    assert am.outermost(["/var/lib/tabpy/state", "/var/lib/tabpy/state/query_objects"]) == (
        "/var/lib/tabpy/state",)
    assert am.outermost(["/var/lib/tabpy/state", "/var/lib/tabpy/query_objects"]) == (
        "/var/lib/tabpy/query_objects", "/var/lib/tabpy/state")
    assert am.outermost(["/srv/state", "/srv/state2"]) == ("/srv/state", "/srv/state2")
