"""Extra requirements in TabPy's wheelhouse: their normal form, conflicts with TabPy's pins, the
extras lock and its archive (property-based, no network), what pip's refusals become, then a
few real resolutions against PyPI (about a second each)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tabpy_provision.cli.main import main as cli_main
from tabpy_provision.wheelhouse import build as wh
from tabpy_provision.wheelhouse import extras, pinning, pip_command
from tabpy_provision.wheelhouse import lock as wl
from tabpy_provision.wheelhouse.pinning import WheelhouseError
from tests.unit.test_wheelhouse import FakePip

LABEL = "TabPy 2.16.0 on cp311 x86_64"

# --- strategies -------------------------------------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?", fullmatch=True).filter(
    lambda name: canonicalize_name(name) != "tabpy"
)
RELEASES = st.lists(st.integers(0, 30), min_size=1, max_size=4).map(
    lambda parts: ".".join(map(str, parts))
)
VERSIONS = st.tuples(RELEASES, st.sampled_from(["", "rc1", "a2", ".post1", ".dev0"])).map(
    "".join
)
SPECIFIERS = st.one_of(
    st.tuples(st.sampled_from(["==", "!=", "<=", ">=", "<", ">"]), VERSIONS).map("".join),
    RELEASES.filter(lambda v: "." in v).map(lambda v: f"~={v}"),
    RELEASES.map(lambda v: f"=={v}.*"),
)
SPACES = st.sampled_from(["", " ", "  "])


@st.composite
def requirements(draw) -> str:
    """PEP 508 requirements as people write them: any case and separators, extras, several
    specifiers, spaces here and there."""
    name = draw(NAMES)
    space = draw(SPACES)
    extra_names = draw(st.lists(NAMES, max_size=2))
    text = name + (f"{space}[{','.join(extra_names)}]" if extra_names else "")
    specs = draw(st.lists(SPECIFIERS, max_size=3))
    return space + text + space + f",{space}".join(specs) + space


# --- normalized_requirements ------------------------------------------------------------------


@given(st.lists(requirements(), max_size=5))
def test_accepted_requirements_round_trip_through_packaging(texts):
    normalized = extras.normalized_requirements(texts)
    assert list(normalized) == sorted(set(normalized))
    assert normalized == extras.normalized_requirements(list(reversed(texts)) + texts)
    for text in normalized:
        assert str(Requirement(text)) == text  # pip reads exactly what the lock header says
        assert extras.normalized_requirements([text]) == (text,)
    for text in texts:  # the meaning is kept: name, extras, specifiers
        before = Requirement(text)
        (after,) = extras.normalized_requirements([text])
        after = Requirement(after)
        assert after.name == canonicalize_name(before.name)
        assert after.extras == {canonicalize_name(extra) for extra in before.extras}
        assert after.specifier == before.specifier
        assert after.url is None and after.marker is None


@given(st.one_of(st.text(max_size=40), st.text(alphabet="aZ09_-.[], <>=!~*;@:/'\"", max_size=24)))
def test_any_string_is_normalized_or_refused_in_one_line_naming_it(text):
    try:
        (normal,) = extras.normalized_requirements([text])
    except WheelhouseError as exc:
        assert "\n" not in str(exc) and repr(text) in str(exc)
    else:
        req = Requirement(normal)
        assert str(req) == normal and req.url is None and req.marker is None
        assert req.name != "tabpy"


URLS = st.one_of(
    st.builds(lambda n, f: f"{n} @ https://example.org/{f}.whl", NAMES, NAMES),
    st.builds(lambda n, f: f"{n}@file:///tmp/{f}.tar.gz", NAMES, NAMES),
    st.builds(lambda f: f"https://example.org/{f}-1.0-py3-none-any.whl", NAMES),
    st.builds(lambda n: f"git+https://github.com/example/{n}.git", NAMES),
)
OPTIONS = st.one_of(
    st.builds(
        lambda option, value: f"{option} {value}",
        st.sampled_from(["--index-url", "--extra-index-url", "-i", "-e", "-r", "-c", "-f"]),
        NAMES,
    ),
    st.sampled_from(["--pre", "--index-url=https://x.org/simple", "-e .", "--no-binary=:all:"]),
)
EMPTY = st.text(alphabet=" \t\n\r", max_size=4)
MARKED = requirements().map(lambda text: text + '; python_version < "3.12"')
GARBAGE = st.sampled_from(
    ["numpy>>2", "numpy==", ">=2", "[x]", "numpy[", "numpy 2", "numpy==2 scipy", "!!", "a,b",
     "numpy=2", "numpy~=2", "./numpy", "numpy/2", "numpy==2.4.6\nscipy", "numpy_", "a[b_]"]
)


@given(st.one_of(URLS, OPTIONS, EMPTY, MARKED, GARBAGE))
def test_urls_options_empty_markers_and_garbage_are_refused(text):
    with pytest.raises(WheelhouseError) as caught:
        extras.normalized_requirements(["pandas", text])
    assert repr(text) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["tabpy", "TabPy==2.16.0", " TABPY[dev] >=2", "tabpy<3,>=2"])
def test_tabpy_itself_is_refused(text):
    with pytest.raises(WheelhouseError, match="TabPy itself"):
        extras.normalized_requirements([text])


def test_non_strings_are_refused():
    with pytest.raises(WheelhouseError, match="None is not a requirement"):
        extras.normalized_requirements([None])
    with pytest.raises(TypeError):
        extras.normalized_requirements("statsmodels")  # one string, not a list of them


def test_normalized_requirements_examples():
    given = ["StatsModels >= 0.14, <0.16", "patsy>=1", "statsmodels<0.16,>=0.14", " Pandas[X_Y]"]
    assert extras.normalized_requirements(given) == ("pandas[x-y]", "patsy>=1",
                                                     "statsmodels<0.16,>=0.14")
    assert extras.normalized_requirements(["Foo>=01.0RC1, ==2.*, !=v3"]) == (
        "foo!=3,==2.*,>=1.0rc1",
    )
    assert extras.normalized_requirements([]) == ()


# --- digest, file names -----------------------------------------------------------------------


@given(st.lists(requirements(), min_size=1, max_size=4), st.randoms())
def test_requirements_digest_names_the_set(texts, random):
    normalized = extras.normalized_requirements(texts)
    digest = extras.requirements_digest(texts)
    assert digest == hashlib.sha256("\n".join(normalized).encode()).hexdigest()[:12]
    shuffled = [*texts, texts[0].upper()]
    random.shuffle(shuffled)
    assert extras.requirements_digest(shuffled) == digest
    assert extras.requirements_digest(normalized) == digest


def test_extras_lock_file_and_archive_names(tmp_path):
    digest = extras.requirements_digest(["statsmodels==0.15.0"])
    assert len(digest) == 12 and int(digest, 16) >= 0
    path = extras.extras_lock_file("2.16.0", "cp311", "x86_64", ["StatsModels==0.15.0"], tmp_path)
    assert path == tmp_path / f"tabpy-2.16.0-cp311-x86_64+{digest}.txt"
    found = wh.Wheelhouse(Path("x.tar"), "id", "2.16.0", "cp311", "x86_64",
                          ("statsmodels==0.15.0",))
    assert found.name == f"tabpy-2.16.0-cp311-x86_64+{digest}" == path.stem
    assert wh.Wheelhouse(Path("x.tar"), "id", "2.16.0", "cp311", "x86_64").name == (
        "tabpy-2.16.0-cp311-x86_64"
    )


# --- direct conflicts -------------------------------------------------------------------------


@given(VERSIONS, st.lists(SPECIFIERS, max_size=3), st.sampled_from(["numpy", "NumPy", "num_py"]))
def test_direct_conflicts_agree_with_packaging(pin, specs, spelling):
    pins = {"num-py": pin, "numpy": pin, "tabpy": "2.16.0"}
    requirement = spelling + ",".join(specs)
    problems = extras.direct_conflicts(pins, [requirement], LABEL)
    satisfied = SpecifierSet(",".join(specs)).contains(pin, prereleases=True)
    assert (problems == []) == satisfied
    if problems:
        (line,) = problems
        (normal,) = extras.normalized_requirements([requirement])
        name = canonicalize_name(spelling)
        assert line == f"{normal}: {LABEL} pins {name}=={pin}"


@given(st.lists(requirements(), max_size=4))
def test_requirements_on_unpinned_distributions_never_conflict(texts):
    pins = {"tabpy": "2.16.0", "docopt": "0.6.2"}
    pinned = [t for t in texts if canonicalize_name(Requirement(t).name) in pins]
    assert extras.direct_conflicts(pins, [t for t in texts if t not in pinned], LABEL) == []


def test_direct_conflict_example():
    pins = pinning.parse_lock(pinning.lock_file("2.16.0", "cp311", "x86_64").read_text())
    assert extras.direct_conflicts(pins, ["numpy<2", "pandas>=3", "statsmodels"], LABEL) == [
        "numpy<2: TabPy 2.16.0 on cp311 x86_64 pins numpy==2.4.6"
    ]


# --- the lock header --------------------------------------------------------------------------


@given(st.lists(requirements(), min_size=1, max_size=4))
def test_extras_header_round_trip(texts):
    sha = "ab" * 32
    header = ["TabPy for a test", *extras.extras_header(texts, "tabpy-2.16.0-cp311-x86_64.txt",
                                                          sha), "more words"]
    text = pinning.format_lock({"numpy": "2.4.6", "tabpy": "2.16.0"}, header)
    assert extras.parse_extras_header(text) == extras.normalized_requirements(texts)
    assert extras.parse_base_lock_header(text) == ("tabpy-2.16.0-cp311-x86_64.txt", sha)
    assert pinning.parse_lock(text) == {"numpy": "2.4.6", "tabpy": "2.16.0"}  # comments to it


@pytest.mark.parametrize("abi", ["cp311", "cp313"])
def test_a_base_lock_has_no_extras_header(abi):
    text = pinning.lock_file("2.16.0", abi, "x86_64").read_text()
    assert extras.parse_extras_header(text) == ()
    assert extras.parse_base_lock_header(text) is None


def test_extras_header_needs_a_requirement():
    with pytest.raises(WheelhouseError, match="at least one"):
        extras.extras_header([], "tabpy-2.16.0-cp311-x86_64.txt", "ab" * 32)


# --- the base wheelhouse is unchanged ---------------------------------------------------------

# (sha256 of the lock file, identity) when these were written; a refreshed lock changes both.
KNOWN = {
    "cp311": ("28661b0cc455bebddc539ebfaa9757156eab5a8ad823a89a097f357d6dfd46a2",
              "4155348d4e6fe10e92fb23166d90c416e6c3a454385f70d81fec3ba0e9e5ce90"),
    "cp313": ("3b5d1d052c1957cbec6b368aa9e30c587c0130ab89df90880af33e17439d24aa",
              "96c7ede7590d7256154a7c7ff15493671e89c294c641c86f5a7d10f0e5b04074"),
}


@pytest.mark.parametrize("abi", ["cp311", "cp313"])
def test_base_wheelhouse_name_and_identity_are_unchanged(abi, tmp_path):
    found, built = wh.find_wheelhouse("2.16.0", abi, cache_dir=tmp_path)
    assert not built and not list(tmp_path.iterdir())
    assert found.archive == tmp_path / f"tabpy-2.16.0-{abi}-x86_64.tar"
    assert found.name == f"tabpy-2.16.0-{abi}-x86_64" and found.requirements == ()
    lock_sha = hashlib.sha256(pinning.lock_file("2.16.0", abi, "x86_64").read_bytes()).hexdigest()
    uv = pinning.UV_VERSION
    assert found.identity == hashlib.sha256(f"{lock_sha} uv {uv}".encode()).hexdigest()
    if (lock_sha, pinning.UV_VERSION) == (KNOWN[abi][0], "0.13.9"):
        assert found.identity == KNOWN[abi][1]


# --- resolving and building, with a fake pip --------------------------------------------------

BASE = "docopt==0.6.2\nnumpy==2.4.6\npatsy==1.0.3\ntabpy==2.16.0\n"


@pytest.fixture
def base_locks(tmp_path, monkeypatch):
    """Base locks for cp311 and cp313 (same pins, as the real ones) in a folder of the test."""
    folder = tmp_path / "base-locks"
    folder.mkdir()
    for abi in ("cp311", "cp313"):
        (folder / f"tabpy-2.16.0-{abi}-x86_64.txt").write_text(f"# base lock {abi}\n{BASE}")
    monkeypatch.setattr(pinning, "lock_file",
                        lambda version, abi, arch: folder / f"tabpy-{version}-{abi}-{arch}.txt")
    return folder


class FakeResolver:
    """Stands in for ``pip_command.process`` of ``pip install --dry-run --report``."""

    def __init__(self, install=None, returncode=0, stdout="", stderr=""):
        self.install = install or {}
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.calls: list[list[str]] = []
        self.constraints: list[str] = []

    def __call__(self, python, args, what):
        args = list(args)
        self.calls.append(args)
        self.constraints.append(Path(args[args.index("-c") + 1]).read_text())
        if self.returncode == 0:
            items = [{"metadata": {"name": n, "version": v}} for n, v in self.install.items()]
            Path(args[args.index("--report") + 1]).write_text(json.dumps({"install": items}))
        return subprocess.CompletedProcess(args, self.returncode, self.stdout, self.stderr)


STATSMODELS = {"statsmodels": "0.15.0", "numpy": "2.4.6", "patsy": "1.0.3", "wrapt": "2.5.2"}


def _extras_lock(monkeypatch, abi="cp313", reqs=("StatsModels==0.15.0",)):
    resolver = FakeResolver(STATSMODELS)
    monkeypatch.setattr(pip_command, "process", resolver)
    return wl.resolve_extras("2.16.0", abi, "x86_64", reqs, log=lambda line: None), resolver


def test_resolve_extras_keeps_the_base_pins_and_adds_the_new(base_locks, monkeypatch):
    text, resolver = _extras_lock(monkeypatch)
    assert pinning.parse_lock(text) == {**pinning.parse_lock(BASE), "statsmodels": "0.15.0",
                                   "wrapt": "2.5.2"}
    assert extras.parse_extras_header(text) == ("statsmodels==0.15.0",)
    base = base_locks / "tabpy-2.16.0-cp313-x86_64.txt"
    assert extras.parse_base_lock_header(text) == (
        base.name, hashlib.sha256(base.read_bytes()).hexdigest())
    (args,) = resolver.calls
    assert args[:2] == ["install", "--dry-run"] and args[-1] == "statsmodels==0.15.0"
    assert "--quiet" not in args  # pip says why a resolution is impossible at info level
    assert args[args.index("--abi") + 1] == "cp313"
    assert pinning.parse_lock(resolver.constraints[0]) == {"numpy": "2.4.6", "patsy": "1.0.3"}


def test_resolve_extras_refuses_a_pin_pip_moved(base_locks, monkeypatch):
    monkeypatch.setattr(pip_command, "process", FakeResolver({**STATSMODELS, "numpy": "1.26.4"}))
    with pytest.raises(wl.RequirementConflict, match=r"numpy 1\.26\.4 \(pinned 2\.4\.6\)"):
        wl.resolve_extras("2.16.0", "cp313", "x86_64", ["statsmodels"], log=lambda line: None)


def test_a_requirement_the_pins_satisfy_alone_needs_no_pip(base_locks, monkeypatch):
    monkeypatch.setattr(pip_command, "process", None)  # not called
    text = wl.resolve_extras("2.16.0", "cp311", "x86_64", ["docopt"], log=lambda line: None)
    assert pinning.parse_lock(text) == pinning.parse_lock(BASE)
    with pytest.raises(wl.RequirementConflict, match="docopt>=1: TabPy 2.16.0 on cp311"):
        wl.resolve_extras("2.16.0", "cp311", "x86_64", ["docopt>=1"], log=lambda line: None)


def test_an_extras_wheelhouse_is_named_by_its_requirements_and_built_from_its_lock(
        base_locks, monkeypatch, tmp_path):
    text, _ = _extras_lock(monkeypatch)
    cache = tmp_path / "cache"
    found, built = wh.find_wheelhouse("2.16.0", "cp313", cache_dir=cache, lock_text=text)
    assert not built and not cache.exists()  # finding writes nothing
    digest = extras.requirements_digest(["statsmodels==0.15.0"])
    assert found.archive == cache / f"tabpy-2.16.0-cp313-x86_64+{digest}.tar"
    assert found.requirements == ("statsmodels==0.15.0",)
    assert found.identity == wh._identity(hashlib.sha256(text.encode()).hexdigest())
    base, _ = wh.find_wheelhouse("2.16.0", "cp313", cache_dir=cache)
    assert base.identity != found.identity and base.archive.name == "tabpy-2.16.0-cp313-x86_64.tar"

    pip = FakePip()
    monkeypatch.setattr(pip_command, "run", pip)
    lines: list[str] = []
    made = wh.ensure_wheelhouse("2.16.0", "cp313", cache_dir=cache, lock_text=text,
                                log=lines.append)
    assert made == found
    assert wh.find_wheelhouse("2.16.0", "cp313", cache_dir=cache, lock_text=text) == (found, True)
    assert lines[0].endswith(f"from tabpy-2.16.0-cp313-x86_64+{digest}.txt ...")
    download = pip.calls[1]
    requirement_file = Path(download[download.index("-r") + 1])
    assert requirement_file.name == f"tabpy-2.16.0-cp313-x86_64+{digest}.txt"
    assert requirement_file.parent.parent == cache and not requirement_file.exists()
    with tarfile.open(found.archive) as tar:
        assert "wheels/statsmodels-0.15.0-py3-none-any.whl" in tar.getnames()
        assert "wheels/wrapt-2.5.2-py3-none-any.whl" in tar.getnames()
    assert sorted(p.name for p in cache.iterdir()) == [
        f".{found.name}.lock", found.archive.name, found.archive.name + ".json"
    ]
    manifest = json.loads(Path(f"{found.archive}.json").read_text())
    assert manifest["lock"] == f"{found.name}.txt"


def test_an_extras_lock_must_belong_to_the_current_base_lock(base_locks, monkeypatch):
    text, _ = _extras_lock(monkeypatch, abi="cp311")
    with pytest.raises(WheelhouseError, match="not resolved on the current tabpy-2.16.0-cp313"):
        wh.find_wheelhouse("2.16.0", "cp313", lock_text=text)  # another ABI's, same pins
    with pytest.raises(WheelhouseError, match="not an extras lock"):
        wh.find_wheelhouse("2.16.0", "cp311", lock_text=BASE)
    moved = text.replace("numpy==2.4.6", "numpy==2.4.5")
    with pytest.raises(WheelhouseError, match="does not keep TabPy's pins numpy==2.4.6"):
        wh.find_wheelhouse("2.16.0", "cp311", lock_text=moved)
    no_tabpy = text.replace("tabpy==2.16.0\n", "")
    with pytest.raises(WheelhouseError, match="tabpy==2.16.0"):
        wh.find_wheelhouse("2.16.0", "cp311", lock_text=no_tabpy)
    base = base_locks / "tabpy-2.16.0-cp311-x86_64.txt"
    base.write_text(base.read_text() + "# refreshed\n")
    with pytest.raises(WheelhouseError, match="--requirement statsmodels==0.15.0"):
        wh.find_wheelhouse("2.16.0", "cp311", lock_text=text)


def test_cli_locks_then_builds_extras(base_locks, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(pip_command, "process", FakeResolver(STATSMODELS))
    locks = tmp_path / "locks"
    argv = ["--abi", "cp311", "--abi", "cp313", "--requirement", "statsmodels==0.15.0",
            "--locks-dir", str(locks)]
    assert cli_main(["wheelhouse", "lock", *argv]) == 0
    digest = extras.requirements_digest(["statsmodels==0.15.0"])
    assert sorted(p.name for p in locks.iterdir()) == [
        f"tabpy-2.16.0-{abi}-x86_64+{digest}.txt" for abi in ("cp311", "cp313")
    ]
    assert f"{locks}/tabpy-2.16.0-cp311-x86_64+{digest}.txt  6 pins" in capsys.readouterr().out
    monkeypatch.setattr(pip_command, "run", FakePip())
    assert cli_main(["wheelhouse", "build", *argv, "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert f"tabpy-2.16.0-cp313-x86_64+{digest}.tar  " in out


def test_cli_build_without_the_extras_lock_says_which_lock_to_run(base_locks, tmp_path, capsys):
    locks = tmp_path / "locks"
    argv = ["build", "--abi", "cp313", "--requirement", "numpy>=2", "--locks-dir", str(locks)]
    assert cli_main(["wheelhouse", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tabpy-provision: no extras lock ")
    assert (
        "run tabpy-provision wheelhouse lock --abi cp313 --tabpy-version 2.16.0 "
        f"--arch x86_64 --requirement 'numpy>=2' --locks-dir {locks}" in err
    )


# --- what pip says when it refuses (pip 26.3, recorded) ---------------------------------------

PINS = {"click": "8.5.1", "numpy": "2.4.6", "tabpy": "2.16.0"}
CANNOT = ("ERROR: Cannot install {} because these package versions have conflicting "
          "dependencies.\nERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/"
          "latest/topics/dependency-resolution/#dealing-with-dependency-conflicts\n")
CAUSED = ("Collecting numba==0.59.1\n\nThe conflict is caused by:\n{}\n\nAdditionally, some "
          "packages in these conflicts have no matching distributions available for your "
          "environment:\n    numpy\n\nTo fix this you could try to:\n1. loosen the range\n")


def _refusal(stdout, stderr, reqs, abi="cp311"):
    return wl.pip_refusal(1, stdout, stderr, reqs, PINS, LABEL, abi, "x86_64", "resolving")


@pytest.mark.parametrize(
    "root,causes,message",
    [
        ("numba==0.59.1",
         ["numba 0.59.1 depends on numpy<1.27 and >=1.22",
          "The user requested (constraint) numpy==2.4.6"],
         f"numba==0.59.1: needs numpy<1.27,>=1.22 but {LABEL} pins numpy==2.4.6"),
        ("numpy<2",
         ["The user requested numpy<2", "The user requested (constraint) numpy==2.4.6"],
         f"numpy<2: {LABEL} pins numpy==2.4.6"),
        ("dashboards==1.0",
         ["flask 1.1.4 depends on click<8.0 and >=5.1",
          "The user requested (constraint) click==8.5.1"],
         f"dashboards==1.0: flask 1.1.4 needs click<8.0,>=5.1 but {LABEL} pins click==8.5.1"),
        ("patsy<0.5 and statsmodels==0.15.0",
         ["The user requested patsy<0.5", "statsmodels 0.15.0 depends on patsy>=0.5.6"],
         f"patsy<0.5 and statsmodels==0.15.0: no solution with the pins of {LABEL}: "
         "The user requested patsy<0.5; statsmodels 0.15.0 depends on patsy>=0.5.6"),
    ],
)
def test_a_resolution_impossible_names_the_requirement_and_the_pin(root, causes, message):
    stdout = CAUSED.format("\n".join(f"    {cause}" for cause in causes))
    refusal = _refusal(stdout, CANNOT.format(root), [root])
    assert isinstance(refusal, wl.RequirementConflict)
    assert str(refusal) == message


@pytest.mark.parametrize(
    "stderr,reqs,message",
    [
        ("ERROR: Could not find a version that satisfies the requirement wget==3.2 (from "
         "versions: none)\nERROR: No matching distribution found for wget==3.2\n",
         ["wget==3.2"], "wget==3.2: no wheel for cp313 x86_64 (manylinux glibc <= 2.36)"),
        ("ERROR: Could not find a version that satisfies the requirement numba==0.59.1 (from "
         "versions: 0.61.0rc1, 0.61.0, 0.68.0, 0.68.1)\nERROR: No matching distribution found "
         "for numba==0.59.1\n",
         ["numba==0.59.1"], "numba==0.59.1: no wheel for cp313 x86_64 (manylinux glibc <= "
         "2.36); versions with one: 0.61.0, 0.68.0, 0.68.1"),
        ("ERROR: Could not find a version that satisfies the requirement llvmlite<0.43 (from "
         "versions: none)\nERROR: No matching distribution found for llvmlite<0.43\n",
         ["numba==0.59.1"], "numba==0.59.1: needs llvmlite<0.43, which has no wheel for "
         "cp313 x86_64 (manylinux glibc <= 2.36)"),
    ],
)
def test_no_matching_distribution_names_the_requirement_and_the_abi(stderr, reqs, message):
    refusal = _refusal("", stderr, reqs, abi="cp313")
    assert isinstance(refusal, wl.NoWheel)
    assert str(refusal) == message


def test_an_unreachable_index_is_not_a_missing_wheel():
    stderr = (
        "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) "
        "after connection broken by 'NewConnectionError(...)': /simple/wget/\n"
        "ERROR: Could not find a version that satisfies the requirement wget (from versions: "
        "none)\nERROR: No matching distribution found for wget\n"
    )
    refusal = _refusal("", stderr, ["wget"])
    assert type(refusal) is WheelhouseError
    assert "check the controller's access to PyPI" in str(refusal) and "\n" not in str(refusal)


# --- real resolutions (PyPI) ------------------------------------------------------------------


def _quiet(line: str) -> None:
    pass


def test_statsmodels_on_cp311_adds_to_tabpys_pins_without_moving_one():
    text = wl.resolve_extras("2.16.0", "cp311", "x86_64", ["statsmodels"], log=_quiet)
    pins = pinning.parse_lock(text)
    base = pinning.parse_lock(pinning.lock_file("2.16.0", "cp311", "x86_64").read_text())
    assert {name: pins[name] for name in base} == base
    assert {"statsmodels", "patsy"} <= set(pins) - set(base)
    assert extras.parse_extras_header(text) == ("statsmodels",)


def test_an_older_numpy_is_refused_before_pip_runs(monkeypatch):
    monkeypatch.setattr(pip_command, "process", None)  # a direct conflict needs no network
    with pytest.raises(wl.RequirementConflict) as caught:
        wl.resolve_extras("2.16.0", "cp311", "x86_64", ["numpy<2"], log=_quiet)
    assert str(caught.value) == "numpy<2: TabPy 2.16.0 on cp311 x86_64 pins numpy==2.4.6"


def test_a_transitive_conflict_names_the_pin():
    # numba 0.59.1 has cp311 wheels and declares numpy<1.27,>=1.22: a fixed release, so pip
    # refuses it the same way every time. (statsmodels==0.13.5, the first idea, resolves on
    # cp311: its metadata puts no upper bound on numpy.)
    with pytest.raises(wl.RequirementConflict) as caught:
        wl.resolve_extras("2.16.0", "cp311", "x86_64", ["numba==0.59.1"], log=_quiet)
    assert str(caught.value) == (
        "numba==0.59.1: needs numpy<1.27,>=1.22 but TabPy 2.16.0 on cp311 x86_64 pins "
        "numpy==2.4.6"
    )


def test_a_project_without_wheels_is_refused_naming_the_abi():
    # wget 3.2 (2015) is an sdist only, and the project's last release.
    with pytest.raises(wl.NoWheel) as caught:
        wl.resolve_extras("2.16.0", "cp313", "x86_64", ["wget==3.2"], log=_quiet)
    assert str(caught.value) == "wget==3.2: no wheel for cp313 x86_64 (manylinux glibc <= 2.36)"
