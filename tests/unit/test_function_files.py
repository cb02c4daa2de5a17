"""Function files and pre-built models (functions/source.py, check.py, publisher.py's pure
parts): what a file must hold, what its examples send to TabPy, what a process serves.

Generated examples are read back by their real consumers: Python's doctest runs the generated
file's docstring against the function, and JSON carries the arguments as TabPy receives them.
"""

from __future__ import annotations

import ast
import doctest
import json
import keyword
import types
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tabpy_provision.functions import publisher, source
from tabpy_provision.functions.source import FunctionError

RECORDED_STATE = Path(__file__).parent / "recorded" / "tabpy-2.16.0-state.ini"
EXAMPLES = hypothesis_settings(max_examples=300, deadline=None, database=None)

json_scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name))


def _file(name: str, args: list, answer) -> str:
    """A function file whose function returns `answer` whatever it is given (its docstring
    written as the literal of its exact text)."""
    want = "" if answer is None else f"{answer!r}\n"  # doctest: None prints nothing
    docstring = f"Returns a constant.\n\n>>> {name}({', '.join(map(repr, args))})\n{want}"
    return f"def {name}(*args):\n    {docstring!r}\n    return {answer!r}\n"


@EXAMPLES
@given(name=names, args=st.lists(json_values, min_size=1, max_size=3), answer=json_values)
def test_an_accepted_file_passes_its_own_doctest_and_sends_its_arguments_as_written(
        name, args, answer):
    text = _file(name, args, answer)
    function = source.read_function(name, text)
    [example] = function.examples
    assert json.loads(json.dumps(example.data)) == args  # what /query receives
    assert source.same_value(example.expected, answer)
    module = types.ModuleType("generated")
    exec(compile(text, f"{name}.py", "exec"), module.__dict__)
    # the real reader of the format: doctest runs the example against the function
    found = doctest.DocTestFinder().find(module.__dict__[name], name, globs=module.__dict__)
    runner = doctest.DocTestRunner()
    for test in found:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_an_example_without_an_answer_expects_none_as_doctest_reads_it():
    text = "def f(a):\n    '''D.\n\n    >>> f(1)\n    '''\n"
    assert source.read_function("f", text).examples[0].expected is None


def test_keyword_examples_send_a_mapping():
    text = ("def f(_arg1, scale):\n    '''Scales.\n\n    >>> f(_arg1=[1], scale=2)\n"
            "    [2]\n    '''\n")
    assert source.read_function("f", text).examples[0].data == {"_arg1": [1], "scale": 2}


@pytest.mark.parametrize(("text", "reason"), [
    ("def f(:\n", "line 1"),
    ("def g():\n    '''Doc.\n\n    >>> g()\n    1\n    '''\n", "one top-level function f()"),
    ("async def f():\n    '''D.\n\n    >>> f()\n    1\n    '''\n", "one top-level function"),
    ("def f():\n    return 1\n", "needs a docstring"),
    ("def f():\n    '''Only words.'''\n", "declares no example"),
    ("def f(a, b):\n    '''D.\n\n    >>> f([1], b=2)\n    1\n    '''\n", "mixes positional"),
    ("def f(a):\n    '''D.\n\n    >>> f(*[1])\n    1\n    '''\n", "unpacks"),
    ("def f(a):\n    '''D.\n\n    >>> g([1])\n    1\n    '''\n", "must be a call of f"),
    ("def f(a):\n    '''D.\n\n    >>> f(x)\n    1\n    '''\n", "not a JSON literal"),
    ("def f(a):\n    '''D.\n\n    >>> f({1, 2})\n    1\n    '''\n", "not a JSON literal"),
    ("def f(a):\n    '''D.\n\n    >>> f(b'x')\n    1\n    '''\n", "not a JSON literal"),
    ("def f(a):\n    '''D.\n\n    >>> f({1: 2})\n    1\n    '''\n", "not a JSON literal"),
    ("def f(a):\n    '''D.\n\n    >>> f(1)\n    <object at 0x1>\n    '''\n", "answer"),
    ("def f(a):\n    '''D.\n\n    >>> f(1 +)\n    1\n    '''\n", "not a Python expression"),
    ("def f(a):\n    '''D.\n\n    >>> f(1)\n    None\n    '''\n", "leave the answer line out"),
])
def test_a_bad_file_is_refused_naming_it_and_why(text, reason):
    with pytest.raises(FunctionError, match=reason) as refused:
        source.read_function("f", text)
    assert "\n" not in str(refused.value)


def test_a_folder_reads_python_files_only_and_refuses_bad_names(tmp_path):
    (tmp_path / "add_one.py").write_text(_file("add_one", [[1]], [2]))
    (tmp_path / "README.md").write_text("not a function")
    (tmp_path / "__pycache__").mkdir()
    assert [f.name for f in source.read_folder(tmp_path)] == ["add_one"]
    (tmp_path / "2bad.py").write_text(_file("f", [1], 1))
    with pytest.raises(FunctionError, match="2bad.py: a function file is named like"):
        source.read_folder(tmp_path)


def test_a_file_named_like_a_prebuilt_model_is_refused(tmp_path):
    (tmp_path / "ANOVA.py").write_text(_file("ANOVA", [[1]], 1))
    with pytest.raises(FunctionError, match="anova.py: a pre-built model has this name"):
        source.declared(["anova"], tmp_path)


def test_unknown_prebuilt_models_are_named():
    with pytest.raises(FunctionError, match="'Anova': not a pre-built model"):
        source.prebuilt_models(["Anova"])


def test_the_digest_follows_content_and_virtualenv_and_marks_the_description():
    function = source.read_function("f", _file("f", [1], 1))
    other = source.read_function("f", _file("f", [1], 2))
    assert function.digest("/opt/tabpy/venvs/a") != function.digest("/opt/tabpy/venvs/b")
    assert function.digest("v") != other.digest("v")
    description = function.published_description("v")
    assert source.published_digest(description) == function.digest("v")
    assert source.published_digest("A model someone deployed") is None


@EXAMPLES
@given(value=json_values)
def test_a_value_matches_itself_through_json(value):
    assert source.same_value(value, json.loads(json.dumps(value)))


@pytest.mark.parametrize(("expected", "answer", "same"), [
    (0.1 + 0.2, 0.3, True), (1.0, 1.0000001, False), (1, True, False), ([1, 2], [1], False),
    ({"a": 1}, {"a": 1, "b": 2}, False), ("x", "x", True), (None, 0, False)])
def test_numbers_match_within_a_relative_1e9_and_nothing_else_loosely(expected, answer, same):
    assert source.same_value(expected, answer) is same


def test_what_a_process_serves_is_read_from_the_state_file_tabpy_wrote():
    """Recorded from a lab host after a deploy published four functions."""
    found = source.published_in_state(RECORDED_STATE.read_text())
    assert set(found) == {"add_one", "anova", "ttest", "PCA"}
    assert all(digest and len(digest) == 16 for digest in found.values())


def test_endpoints_deployed_by_others_are_seen_and_never_ours():
    text = RECORDED_STATE.read_text().replace(
        "[Query Objects Service Versions]\n",
        '[Query Objects Service Versions]\nTheir Model = {"description": "theirs", '
        '"version": 3}\n')
    found = source.published_in_state(text)
    assert found["Their Model"] is None
    functions = tuple(source.PREBUILT[name] for name in ("anova", "ttest"))
    # ours were published from another virtualenv; theirs is never touched
    assert source.pending_changes(functions, "v", {"port 1": (found, True)}) == [
        "port 1: publish changed 'anova', 'ttest'; remove 'PCA', 'add_one'"]
    ours = {f.name: f.digest("v") for f in functions}
    assert source.pending_changes(functions, "v", {"port 1": ({**ours, "Their Model": None},
                                                              True)}) == []
    assert source.pending_changes(functions, "v", {"port 1": (ours, True),
                                                   "port 2": ({}, False)}) == [
        "port 2: publish new 'anova', 'ttest'; write the record of what passed"]
    assert source.pending_changes(functions, "v", {"port 1": (ours, False)}) == [
        "port 1: write the record of what passed"]  # its record lost
    assert source.pending_changes((), "v", {"port 1": ({"Their Model": None}, False)}) == []


def test_a_missing_or_broken_state_file_serves_nothing():
    assert source.published_in_state("") == {}
    assert source.published_in_state("[Query Objects Service Versions\n") == {}


def test_prebuilt_models_lose_their_downloads_and_keep_their_imports():
    script = ("import ssl\nimport nltk\nfrom tabpy.models.utils import setup_utils\n"
              "ssl._create_default_https_context = ssl._create_unverified_context\n"
              "nltk.download('vader_lexicon')\n"
              "def model(x):\n    return OneHotEncoder(sparse=False)\n"
              "if __name__ == '__main__':\n    setup_utils.deploy_model('m', model, 'd')\n")
    kept = publisher._imports_and_function(script, "model",
                                           {"OneHotEncoder": {"sparse": "sparse_output"}})
    tree = ast.parse(kept)
    assert [type(node).__name__ for node in tree.body] == ["Import", "FunctionDef"]
    assert "download" not in kept and "ssl" not in kept
    assert "sparse_output=False" in kept


def test_every_prebuilt_model_names_a_script_of_tabpy_and_declares_examples():
    assert set(source.PREBUILT) == {"anova", "ttest", "PCA", "Sentiment Analysis"}
    for model in source.PREBUILT.values():
        assert model.prebuilt and model.examples and model.source.endswith(".py")


@EXAMPLES
@given(text=st.text(max_size=200))
def test_a_published_docstring_survives_tabpys_state_round_trips_unchanged(text):
    """TabPy 2.16 decodes each docstring with unicode_escape at every state write and read."""
    stored = source.stored_docstring(text)
    again = stored
    for _ in range(3):
        again = bytes(again, "utf-8").decode("unicode_escape")
    assert again == stored and stored.isascii() and len(stored) == len(text)
