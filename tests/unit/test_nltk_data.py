"""NLTK data archive: names and folders checked, deterministic bytes and identity, and the real
reader - NLTK 3.10.4 from the wheelhouse - loading what it ships.

Network: one ``pip download vadersentiment==3.3.2`` per run (the ``vader_wheels`` fixture, by pin
and hash); every build after it reads that wheel through ``PIP_NO_INDEX``/``PIP_FIND_LINKS``.
The consumer tests also need the cp311 wheelhouse (built on first use, like tabpy_source).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import string
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabpy_provision.wheelhouse import archive_cache, pinning
from tabpy_provision.wheelhouse import nltk_data as nd
from tabpy_provision.wheelhouse.nltk_data import NltkDataError
from tests import nltk_source

VADER = nd.SOURCES["vader_lexicon"]
#: VADER's compound score of "I love this" with the vadersentiment 3.3.2 lexicon in NLTK 3.10.4
#: (the same as with the lexicon nltk.download() fetches).
LOVE_COMPOUND = 0.6369
STOPWORDS = b"a\nthe\nand\n"

FEW = settings(max_examples=40, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _stopwords_folder(root: Path) -> Path:
    return _write(root, {"corpora/stopwords/english": STOPWORDS})


# --- resources_problem ------------------------------------------------------------------------


@given(st.lists(st.sampled_from(sorted(nd.SOURCES)), unique=True), st.booleans())
def test_known_distinct_names_are_fine(names, as_tuple):
    assert nd.resources_problem(tuple(names) if as_tuple else names) is None


@given(st.lists(st.sampled_from(sorted(nd.SOURCES))), st.text(max_size=20), st.data())
def test_an_unknown_name_names_the_known_ones_and_the_folder(names, unknown, data):
    if unknown in nd.SOURCES:
        return
    position = data.draw(st.integers(0, len(names)))
    problem = nd.resources_problem([*names[:position], unknown, *names[position:]])
    if len(set(names[:position])) < position:  # a duplicate before it is reported first
        assert "twice" in problem
        return
    assert repr(unknown) in problem
    assert "vader_lexicon" in problem and "folder on the controller" in problem
    assert "\n" not in problem


@pytest.mark.parametrize("value", [["vader_lexicon", "vader_lexicon"]])
def test_a_name_listed_twice(value):
    assert nd.resources_problem(value) == "'vader_lexicon' is listed twice"


@pytest.mark.parametrize("value", ["vader_lexicon", None, {"vader_lexicon": 1}, 3,
                                   {"vader_lexicon"}, [1], [None], [["vader_lexicon"]]])
def test_not_a_list_of_names(value):
    assert nd.resources_problem(value).startswith("must be a list of NLTK resource names")


@pytest.mark.parametrize("name", ["punkt", "punkt_tab", "stopwords", "VADER_LEXICON", ""])
def test_resources_without_a_registry_package_point_to_the_folder(name):
    assert "nltk_data folder on the controller" in nd.resources_problem([name])


# --- folder_problem ----------------------------------------------------------------------------

#: Names the trees use; the faults below use names with a space, so they never collide.
_NAME = st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=10).filter(
    lambda name: name not in (".", ".."))


@st.composite
def trees(draw):
    """{relative path: bytes}: files one to three levels below category folders."""
    files: dict[str, bytes] = {}
    for _ in range(draw(st.integers(1, 6))):
        parts = [draw(st.sampled_from(sorted(nd.CATEGORIES))),
                 *draw(st.lists(_NAME, min_size=1, max_size=3))]
        rel = "/".join(parts)
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if rel in files or prefixes & set(files) or any(f.startswith(rel + "/") for f in files):
            continue  # a path that is both a file and a folder
        files[rel] = draw(st.binary(max_size=64))
    return files


@FEW
@given(trees())
def test_a_category_tree_is_fine_and_lists_its_files(files):
    with tempfile.TemporaryDirectory() as tmp:
        root = _write(Path(tmp), files)
        assert nd.folder_problem(root) is None
        assert nd.folder_problem(str(root)) is None
        assert sorted(nd._folder_files(root)) == sorted(files)


def _fault_top_file(root):
    (root / "README.txt").write_text("x")
    return "README.txt in"


def _fault_unknown_category(root):
    _write(root, {"wordlists/x": b"1"})
    return "wordlists in"


def _fault_nested_nltk_data(root):
    _write(root, {"nltk_data/corpora/x": b"1"})
    return "give that folder itself"


def _fault_escaping_link(root):
    (root / "corpora" / "out link").symlink_to(sys.executable)
    return "leading out of"


def _fault_escaping_dir_link(root):
    (root / "corpora" / "up link").symlink_to("../..")
    return "leading out of"


def _fault_dangling_link(root):
    (root / "corpora" / "gone link").symlink_to(root / "corpora" / "nothing-here")
    return "symlink to a missing"


def _fault_link_loop(root):
    (root / "corpora" / "again link").symlink_to(root / "corpora")
    return "symlink loop"


def _fault_fifo(root):
    os.mkfifo(root / "corpora" / "a pipe")
    return "not a regular file"


def _fault_control_character(root):
    (root / "corpora" / "a\nb c").write_text("x")
    return "control character"


def _fault_backslash(root):
    (root / "corpora" / "a\\b c").write_text("x")
    return "backslash"


FAULTS = [_fault_top_file, _fault_unknown_category, _fault_nested_nltk_data, _fault_escaping_link,
          _fault_escaping_dir_link, _fault_dangling_link, _fault_link_loop, _fault_fifo,
          _fault_control_character, _fault_backslash]


@FEW
@given(trees(), st.sampled_from(FAULTS))
def test_one_fault_makes_a_one_line_problem(files, fault):
    with tempfile.TemporaryDirectory() as tmp:
        root = _write(Path(tmp), files)
        (root / "corpora").mkdir(exist_ok=True)
        expected = fault(root)
        problem = nd.folder_problem(root)
        assert problem is not None and expected in problem
        assert len(problem.splitlines()) == 1
        with pytest.raises(NltkDataError, match="NLTK data folder"):
            nd.find_nltk_data([], root, cache_dir=Path(tmp) / "cache")


def test_links_inside_the_folder_are_followed(tmp_path):
    root = _write(tmp_path / "data", {"corpora/words/en": b"cat\n"})
    (root / "corpora" / "words" / "en-alias").symlink_to("en")
    (root / "corpora" / "words2").symlink_to(root / "corpora" / "words")
    (root / "tokenizers").symlink_to("corpora")
    assert nd.folder_problem(root) is None
    assert sorted(nd._folder_files(root)) == [
        "corpora/words/en", "corpora/words/en-alias", "corpora/words2/en",
        "corpora/words2/en-alias", "tokenizers/words/en", "tokenizers/words/en-alias",
        "tokenizers/words2/en", "tokenizers/words2/en-alias"]


@pytest.mark.parametrize("value,expected", [
    (None, "must be the path of a folder"), (3, "must be the path of a folder"),
    ("", "must be the path of a folder"), ("/nonexistent/nltk_data", "does not exist"),
    (sys.executable, "is not a folder"),
])
def test_not_a_folder(value, expected):
    assert expected in nd.folder_problem(value)


def test_an_empty_folder_or_empty_categories_hold_no_files(tmp_path):
    assert nd.folder_problem(tmp_path).endswith("holds no files")
    (tmp_path / "corpora" / "stopwords").mkdir(parents=True)
    assert nd.folder_problem(tmp_path).endswith("holds no files")


@pytest.mark.parametrize("rel", ["sentiment/vader_lexicon.zip",
                                 "sentiment/vader_lexicon/vader_lexicon.txt"])
def test_a_folder_file_shadowing_a_registry_resource_is_refused(tmp_path, rel):
    root = _write(tmp_path / "data", {rel: b"x", "corpora/stopwords/english": STOPWORDS})
    assert nd.folder_problem(root) is None  # the operator's own lexicon, alone, is fine
    problem = nd.folder_problem(root, resources=["vader_lexicon"])
    assert problem.startswith(f"{rel} in the folder would shadow the resource vader_lexicon")
    with pytest.raises(NltkDataError, match="would shadow"):
        nd.find_nltk_data(["vader_lexicon"], root, cache_dir=tmp_path / "cache")
    with pytest.raises(NltkDataError, match="would shadow"):
        nd.ensure_nltk_data(["vader_lexicon"], root, cache_dir=tmp_path / "cache", log=print)
    assert not (tmp_path / "cache").exists()
    # Neighbours are not the resource: sentiment/vader_lexicon_extra.txt is someone else's.
    other = _write(tmp_path / "other", {"sentiment/vader_lexicon_extra.txt": b"x"})
    assert nd.folder_problem(other, resources=["vader_lexicon"]) is None


# --- pure pieces: the lexicon check, the zip, the tar ---------------------------------------------


@pytest.mark.parametrize("data,problem_line", [
    (b"good\t1.5\t0.5\t[1, 2]", None),
    (b"good\t1.5\r\nbad\t-2\t0.1\t[]", None),  # the vadersentiment file: CRLF, no final newline
    (b"good\t1.5\n", 2),  # a final newline is an empty last line
    (b"good 1.5", 1),
    (b"good\t1.5\n\nbad\t-2", 2),
    (b"good\tstrong", 1),
    (b"\xe9t\xe9\t1.0", None),  # Latin-1, as NLTK falls back to
])
def test_vader_lexicon_problem(data, problem_line):
    problem = nd.vader_lexicon_problem(data)
    if problem_line is None:
        assert problem is None
    else:
        assert problem.startswith(f"line {problem_line} ")


@given(st.dictionaries(st.lists(_NAME, min_size=1, max_size=3).map("/".join),
                       st.binary(max_size=100), min_size=1, max_size=5), st.randoms())
def test_zips_are_deterministic_and_sorted(members, rnd):
    keys = list(members)
    rnd.shuffle(keys)
    members = {k: v for k, v in members.items()
               if not any(other.startswith(k + "/") for other in members)}
    shuffled = {k: members[k] for k in keys if k in members}
    data = nd.deterministic_zip(members)
    assert data == nd.deterministic_zip(shuffled)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == sorted(names)
        assert all(info.date_time == nd.ZIP_DATE for info in infos)
        assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
        assert {n for n in names if not n.endswith("/")} == set(members)
        for name, content in members.items():
            assert archive.read(name) == content


def test_the_vader_zip_layout():
    data = nd.deterministic_zip({VADER.zip_member: b"good\t1.5"})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["vader_lexicon/", "vader_lexicon/vader_lexicon.txt"]
        assert archive.getinfo("vader_lexicon/vader_lexicon.txt").external_attr >> 16 == 0o100644


@FEW
@given(trees(), st.randoms())
def test_tars_are_deterministic_whatever_the_files_times_and_modes(files, rnd):
    with tempfile.TemporaryDirectory() as tmp:
        first, second = _write(Path(tmp, "a"), files), _write(Path(tmp, "b"), files)
        for rel in files:
            os.utime(second / rel, (rnd.randrange(2**31), rnd.randrange(2**31)))
            os.chmod(second / rel, rnd.choice([0o600, 0o644, 0o755, 0o664]))
        keys = list(files)
        rnd.shuffle(keys)
        nd.pack_tar(Path(tmp, "a.tar"), {f"nltk_data/{k}": first / k for k in files})
        nd.pack_tar(Path(tmp, "b.tar"), {f"nltk_data/{k}": second / k for k in keys})
        assert Path(tmp, "a.tar").read_bytes() == Path(tmp, "b.tar").read_bytes()
        with tarfile.open(Path(tmp, "a.tar")) as tar:
            members = tar.getmembers()
        assert [m.name for m in members] == sorted(f"nltk_data/{k}" for k in files)
        for m in members:
            assert (m.type, m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime) == \
                (tarfile.REGTYPE, 0o644, 0, 0, "", "", pinning.EPOCH)


# --- identity, known before a build ------------------------------------------------------------


def test_find_writes_nothing_and_identity_follows_the_inputs(tmp_path):
    cache = tmp_path / "cache"
    folder = _stopwords_folder(tmp_path / "data")
    found, cached = nd.find_nltk_data(["vader_lexicon"], folder, cache_dir=cache)
    assert not cached and not cache.exists()
    assert found.archive == cache / f"nltk-data-{found.identity[:12]}.tar"
    assert found.resources == ("vader_lexicon",) and found.folder == str(folder)

    def identity(resources, where):
        return nd.find_nltk_data(resources, where, cache_dir=cache)[0].identity

    # Times, modes and the folder's own place do not matter ...
    os.utime(folder / "corpora/stopwords/english", (0, 0))
    os.chmod(folder / "corpora/stopwords/english", 0o600)
    moved = Path(shutil.copytree(folder, tmp_path / "elsewhere"))
    assert identity(["vader_lexicon"], folder) == identity(["vader_lexicon"], moved) \
        == found.identity
    # ... the contents, the names and the resources do.
    seen = {found.identity, identity([], folder), identity(["vader_lexicon"], None)}
    (moved / "corpora/stopwords/english").write_bytes(b"a\nthe\n")
    seen.add(identity(["vader_lexicon"], moved))
    (moved / "corpora/stopwords/english").rename(moved / "corpora/stopwords/german")
    seen.add(identity(["vader_lexicon"], moved))
    assert len(seen) == 5
    changed = dataclasses.replace(VADER, requirement="vadersentiment==3.3.1")
    assert nd._identity({"vader_lexicon": changed}, None) != identity(["vader_lexicon"], None)


def test_nothing_to_ship_is_refused(tmp_path):
    with pytest.raises(NltkDataError, match="no NLTK data to ship"):
        nd.find_nltk_data([], None, cache_dir=tmp_path)
    with pytest.raises(NltkDataError, match="NLTK resources: 'punkt' is not"):
        nd.find_nltk_data(["punkt"], None, cache_dir=tmp_path)


# --- builds: one download, then offline -----------------------------------------------------------


@pytest.fixture(scope="module")
def vader_wheels(tmp_path_factory) -> Path:
    """The vadersentiment wheel, downloaded once (network) by pin and sha256."""
    work = tmp_path_factory.mktemp("vader-download")
    wheels = nd.download_sources(["vader_lexicon"], work)
    assert [p.name for p in wheels.values()] == ["vaderSentiment-3.3.2-py2.py3-none-any.whl"]
    return work / "wheels"


def _offline_env(mp: pytest.MonkeyPatch, wheels: Path) -> None:
    mp.setenv("PIP_NO_INDEX", "1")
    mp.setenv("PIP_FIND_LINKS", str(wheels))


@pytest.fixture
def offline(monkeypatch, vader_wheels):
    _offline_env(monkeypatch, vader_wheels)


def test_two_builds_give_the_same_bytes_and_identity(offline, vader_wheels, tmp_path):
    first_folder = _stopwords_folder(tmp_path / "one")
    second_folder = _stopwords_folder(tmp_path / "two")
    os.utime(second_folder / "corpora/stopwords/english", (1, 1))
    lines: list[str] = []
    first = nd.ensure_nltk_data(["vader_lexicon"], first_folder, cache_dir=tmp_path / "c1",
                                log=lines.append)
    second = nd.ensure_nltk_data(["vader_lexicon"], second_folder, cache_dir=tmp_path / "c2",
                                 log=lines.append)
    assert first.identity == second.identity
    assert first.archive.name == second.archive.name
    assert first.archive.read_bytes() == second.archive.read_bytes()
    assert nd.find_nltk_data(["vader_lexicon"], first_folder, cache_dir=tmp_path / "c1") == \
        (first, True)

    with tarfile.open(first.archive) as tar:
        assert tar.getnames() == ["nltk_data/corpora/stopwords/english",
                                  "nltk_data/sentiment/vader_lexicon.zip"]
        assert tar.extractfile("nltk_data/corpora/stopwords/english").read() == STOPWORDS
        lexicon_zip = tar.extractfile("nltk_data/sentiment/vader_lexicon.zip").read()
    with zipfile.ZipFile(io.BytesIO(lexicon_zip)) as archive:
        assert archive.namelist() == ["vader_lexicon/", "vader_lexicon/vader_lexicon.txt"]
        lexicon = archive.read("vader_lexicon/vader_lexicon.txt")
    with zipfile.ZipFile(next(vader_wheels.glob("*.whl"))) as wheel:
        assert lexicon == wheel.read("vaderSentiment/vader_lexicon.txt")  # byte for byte
    assert lexicon.count(b"\n") + 1 == 7520

    manifest = json.loads(first.archive.with_name(first.archive.name + ".json").read_text())
    assert manifest["identity"] == first.identity
    assert manifest["sha256"] == archive_cache.sha256_file(first.archive)
    assert manifest["sources"] == {"vader_lexicon": VADER.record()}
    assert list(manifest["folder_files"]) == ["corpora/stopwords/english"]


def test_the_cache_is_reused_and_rebuilt_when_damaged_or_stale(offline, tmp_path):
    folder = _stopwords_folder(tmp_path / "data")
    cache = tmp_path / "cache"
    built = nd.ensure_nltk_data(["vader_lexicon"], folder, cache_dir=cache, log=print)
    good = built.archive.read_bytes()
    lines: list[str] = []
    assert nd.ensure_nltk_data(["vader_lexicon"], folder, cache_dir=cache,
                               log=lines.append) == built
    assert lines == []  # nothing built, nothing downloaded

    built.archive.write_bytes(good[:-1] + b"x")  # damaged: stat and sha256 differ
    assert nd.find_nltk_data(["vader_lexicon"], folder, cache_dir=cache)[1] is False
    nd.ensure_nltk_data(["vader_lexicon"], folder, cache_dir=cache, log=lines.append)
    assert built.archive.read_bytes() == good and lines[0].startswith("building NLTK data")

    (folder / "corpora/stopwords/english").write_bytes(b"a\nthe\nor\n")  # a folder file changed
    changed, cached = nd.find_nltk_data(["vader_lexicon"], folder, cache_dir=cache)
    assert not cached and changed.identity != built.identity
    rebuilt = nd.ensure_nltk_data(["vader_lexicon"], folder, cache_dir=cache, log=print)
    assert rebuilt == changed and rebuilt.archive != built.archive
    with tarfile.open(rebuilt.archive) as tar:
        assert tar.extractfile("nltk_data/corpora/stopwords/english").read() == b"a\nthe\nor\n"


def test_a_wheel_without_the_pinned_hash_is_refused(offline, tmp_path, monkeypatch):
    forged = dataclasses.replace(VADER, wheel_sha256="0" * 64)
    monkeypatch.setattr(nd, "SOURCES", {"vader_lexicon": forged})
    with pytest.raises(NltkDataError, match="pip download vadersentiment==3.3.2 failed"):
        nd.ensure_nltk_data(["vader_lexicon"], None, cache_dir=tmp_path, log=print)
    assert not list(tmp_path.glob("*.tar"))


def test_an_unreadable_lexicon_is_refused(offline, tmp_path, monkeypatch):
    strict = dataclasses.replace(VADER, check=lambda data: "refused for the test")
    monkeypatch.setattr(nd, "SOURCES", {"vader_lexicon": strict})
    with pytest.raises(NltkDataError, match="vader_lexicon.txt in vaderSentiment-3.3.2-py2.py3"):
        nd.ensure_nltk_data(["vader_lexicon"], None, cache_dir=tmp_path, log=print)
    assert not list(tmp_path.glob("*.tar"))


# --- the real consumer: NLTK 3.10.4 from the wheelhouse -------------------------------------------


@pytest.fixture(scope="module")
def nltk_site(tmp_path_factory) -> Path:
    reason = nltk_source.usable()
    if reason:
        pytest.skip(reason)
    return nltk_source.unpack(tmp_path_factory.mktemp("nltk-site"))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, vader_wheels) -> nd.NltkData:
    """The archive of vader_lexicon plus a folder with a tiny English stopwords list."""
    work = tmp_path_factory.mktemp("shipped")
    with pytest.MonkeyPatch.context() as mp:
        _offline_env(mp, vader_wheels)
        return nd.ensure_nltk_data(["vader_lexicon"], _stopwords_folder(work / "folder"),
                                   cache_dir=work / "cache", log=print)


@pytest.fixture
def unpacked(shipped, tmp_path) -> Path:
    """The archive unpacked as the deploy does (tar -xf, as root); the nltk_data folder."""
    (tmp_path / "share").mkdir()
    subprocess.run(["tar", "-xf", str(shipped.archive), "-C", str(tmp_path / "share")],
                   check=True)
    return tmp_path / "share" / "nltk_data"


READ_BOTH = """
import json, nltk
if len(sys.argv) > 1:
    nltk.data.path = [sys.argv[1]]
from nltk.sentiment.vader import SentimentIntensityAnalyzer
from nltk.corpus import stopwords
analyzer = SentimentIntensityAnalyzer()
print(json.dumps({
    "version": nltk.__version__,
    "prefix": sys.prefix,
    "found": str(nltk.data.find("sentiment/vader_lexicon.zip")),
    "love": analyzer.polarity_scores("I love this"),
    "hate": analyzer.polarity_scores("I hate this")["compound"],
    "entries": len(analyzer.lexicon),
    "stopwords": stopwords.words("english"),
}))
"""


def test_nltk_reads_the_lexicon_and_the_folder_file(nltk_site, unpacked):
    result = nltk_source.run(nltk_site, READ_BOTH, str(unpacked))
    assert result["version"] == "3.10.4"
    assert result["found"] == str(unpacked / "sentiment" / "vader_lexicon.zip")
    assert result["love"] == {"neg": 0.0, "neu": 0.192, "pos": 0.808, "compound": LOVE_COMPOUND}
    assert result["love"]["compound"] > 0 > result["hate"]
    assert result["entries"] == 7506  # 7520 lines, a few tokens listed twice
    assert result["stopwords"] == ["a", "the", "and"]


def test_a_venv_finds_share_nltk_data_by_default_and_others_through_nltk_data(
        nltk_site, shipped, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv / "share").mkdir(exist_ok=True)
    subprocess.run(["tar", "-xf", str(shipped.archive), "-C", str(venv / "share")], check=True)
    data = venv / "share" / "nltk_data"
    # The venv's own python: no NLTK_DATA, no nltk.data.path change - sys.prefix/share/nltk_data.
    result = nltk_source.run(nltk_site, READ_BOTH, python=str(venv / "bin" / "python"))
    assert result["prefix"] == str(venv)
    assert result["found"] == str(data / "sentiment" / "vader_lexicon.zip")
    assert result["love"]["compound"] == LOVE_COMPOUND
    assert result["stopwords"] == ["a", "the", "and"]
    # Another interpreter (the service's environment): NLTK_DATA.
    result = nltk_source.run(nltk_site, READ_BOTH, env={"NLTK_DATA": str(data)})
    assert result["prefix"] != str(venv) and result["found"].startswith(str(data))
    assert result["love"]["compound"] == LOVE_COMPOUND


def test_nltk_refuses_a_group_writable_data_folder(nltk_site, unpacked):
    """Why the deploy keeps root's 0755 directories: NLTK 3.10.4 refuses data another account
    could have planted."""
    os.chmod(unpacked, 0o775)
    result = nltk_source.run(nltk_site, """
import json, warnings, nltk
nltk.data.path = [sys.argv[1]]
from nltk.sentiment.vader import SentimentIntensityAnalyzer
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        SentimentIntensityAnalyzer()
        outcome = "loaded"
    except LookupError:
        outcome = "LookupError"
print(json.dumps([outcome, [str(w.message) for w in caught]]))
""", str(unpacked))
    assert result[0] == "LookupError"
    assert any("writable by, or owned by, another account" in w for w in result[1])


def test_the_lexicon_check_agrees_with_nltk(nltk_site):
    samples = [b"good\t1.5\t0.5\t[1]", b"good\t1.5\n", b"good 1.5", b"a\t1\r\nb\t-2",
               b"a\tx", b"a\t1\n\nb\t2", b"\xe9t\xe9\t1.0", b" a\t1 ", b"a\t1e3\tz", b""]
    verdicts = nltk_source.run(nltk_site, """
import json
from nltk.sentiment.vader import SentimentIntensityAnalyzer
out = []
for sample in json.loads(sys.argv[1]):
    raw = bytes.fromhex(sample)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # as nltk.data.load(format="text") does
    analyzer = SentimentIntensityAnalyzer.__new__(SentimentIntensityAnalyzer)
    analyzer.lexicon_file = text
    try:
        analyzer.make_lex_dict()
        out.append(True)
    except ValueError:
        out.append(False)
print(json.dumps(out))
""", json.dumps([s.hex() for s in samples]))
    assert verdicts == [nd.vader_lexicon_problem(s) is None for s in samples]
    assert verdicts.count(False) >= 4


def test_textblob_sentiment_needs_no_nltk_data(nltk_site, tmp_path):
    """The model's other library ("textblob") scores with the lexicon inside its own wheel."""
    empty = tmp_path / "nltk_data"
    empty.mkdir()
    polarity = nltk_source.run(nltk_site, """
import json, nltk
nltk.data.path = [sys.argv[1]]
from textblob import TextBlob
print(json.dumps(TextBlob("I love this").sentiment.polarity))
""", str(empty))
    assert polarity == 0.5
