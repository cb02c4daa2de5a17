"""The functions a deploy publishes to TabPy: the analysts' own (a folder of Python files in
the operator's repository) and TabPy's pre-built models, each with examples that prove it.

A function file `NAME.py` defines a top-level function `NAME` (the TabPy endpoint's name) with
a docstring holding one or more examples written as doctests, each a call of the function
with literal arguments and its literal answer:

    def add_one(_arg1):
        '''Adds one to each value.

        >>> add_one([1, 2])
        [2, 3]
        '''
        return [value + 1 for value in _arg1]

Checked here on the controller by reading, never running, the file (ast and doctest's own
parser): what a check refuses names the file and the reason. The functions run only on the
TabPy hosts, with the Python, TabPy and cloudpickle the server runs (publisher.py).
Pure: no pyinfra import.
"""

from __future__ import annotations

import ast
import configparser
import doctest
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Appended to each published endpoint's description: which content it serves. Endpoints
#: without it were deployed by someone else and are never touched.
MARKER = re.compile(r"\s*\[tabpy-provision ([0-9a-f]{16})\]$")
#: How the publisher makes what it publishes (in each digest: a change republishes): 2 since
#: docstrings are published as stored_docstring makes them.
PUBLISH_FORMAT = 2
FILE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\.py")
LARGEST_FILE = 1 << 20


class FunctionError(ValueError):
    """A function file or model cannot be published; the message names it and says why. Not a
    ProvisionError: this module runs on TabPy hosts too, beside publisher.py, where nothing else
    of the package is (test_layout.py)."""


@dataclass(frozen=True)
class Example:
    """One declared call and its expected answer, as TabPy's /query/NAME receives it."""
    call: str  # as written, for messages
    data: list | dict  # positional arguments (a list) or keyword arguments (a dict)
    expected: Any

    def answer_problem(self, answer: Any) -> str | None:
        """Why `answer` (TabPy's `response`) is not the expected one, or None."""
        if same_value(self.expected, answer):
            return None
        return f"{self.call} returned {json.dumps(answer)[:200]}, " \
               f"expected {json.dumps(self.expected)[:200]}"


@dataclass(frozen=True)
class Function:
    """One TabPy endpoint the deploy owns."""
    name: str  # the endpoint's name
    source: str = field(repr=False)  # code: the file's text; prebuilt: the script's file name
    entry: str  # the function's name in the source
    description: str
    examples: tuple[Example, ...]
    prebuilt: bool = False
    #: A pre-built model's calls whose keywords the libraries renamed: {callee: {old: new}}.
    renamed_keywords: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def digest(self, venv: str) -> str:
        """What is published, and with which Python, TabPy and cloudpickle (the virtualenv's
        name): pickles do not carry across them."""
        text = json.dumps([PUBLISH_FORMAT, self.name, self.source, self.entry,
                           self.description, self.prebuilt, self.renamed_keywords, venv],
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def published_description(self, venv: str) -> str:
        return f"{self.description} [tabpy-provision {self.digest(venv)}]"

    def to_publisher(self, venv: str) -> dict:
        """What the publisher on the host is given for this function (JSON)."""
        return {"name": self.name, "source": self.source, "entry": self.entry,
                "prebuilt": self.prebuilt, "renamed_keywords": self.renamed_keywords,
                "description": self.published_description(venv),
                "digest": self.digest(venv),
                "examples": [{"call": e.call, "data": e.data, "expected": e.expected}
                             for e in self.examples]}


def stored_docstring(text: str | None) -> str | None:
    """A docstring TabPy 2.16 keeps as it is: ASCII, no backslash. TabPy passes each docstring
    through `bytes(text, "utf-8").decode("unicode_escape")` whenever it reads or writes its
    state.ini: every non-ASCII character doubles each time (the U+2019 in its own ttest's
    docstring grows until GET /endpoints fails with MemoryError), and a backslash escape it
    cannot decode fails the write."""
    if text is None:
        return None
    return text.encode("ascii", "replace").decode().replace("\\", "/")


def same_value(expected: Any, answer: Any) -> bool:
    """JSON values equal, numbers within a relative 1e-9 (a float computed on another CPU or
    library build may differ in its last digits)."""
    if isinstance(expected, bool) or isinstance(answer, bool):
        return expected is answer
    if isinstance(expected, int | float) and isinstance(answer, int | float):
        return math.isclose(expected, answer, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, list | tuple) and isinstance(answer, list | tuple):
        return len(expected) == len(answer) and all(map(same_value, expected, answer))
    if isinstance(expected, Mapping) and isinstance(answer, Mapping):
        return expected.keys() == answer.keys() and all(
            same_value(expected[key], answer[key]) for key in expected)
    return expected == answer


def published_digest(description: str | None) -> str | None:
    """The content digest of an endpoint this deploy published (None: not one of ours)."""
    found = MARKER.search(description or "")
    return found.group(1) if found else None


#: The section of TabPy's state.ini holding each endpoint's details (a JSON object).
STATE_SECTION = "Query Objects Service Versions"


def published_in_state(text: str) -> dict[str, str | None]:
    """{endpoint: the digest this deploy published it with, None when someone else deployed
    it} from the text of a TabPy process's state.ini ({} when it has none)."""
    parser = configparser.ConfigParser(allow_no_value=True, interpolation=None)
    parser.optionxform = str  # as TabPy reads it: endpoint names keep their case
    try:
        parser.read_string(text)
    except configparser.Error:
        return {}
    if not parser.has_section(STATE_SECTION):
        return {}
    found = {}
    for name, value in parser.items(STATE_SECTION):
        try:
            details = json.loads(value or "{}")
        except ValueError:
            details = {}
        found[name] = published_digest(details.get("description")
                                       if isinstance(details, dict) else None)
    return found


def pending_changes(functions: tuple[Function, ...], venv: str,
                    processes: Mapping[str, tuple[Mapping[str, str | None], bool]]) -> list[str]:
    """What a run would do on each process, one line per process that differs (none: nothing
    to do): the functions it lacks at their current content (new or changed), those this
    deploy published that are no longer wanted, a lost record of what passed there.
    `processes`: by a label (its port), each one's published_in_state and whether its record
    exists."""
    wanted = {function.name: function.digest(venv) for function in functions}
    lines = []
    for label, (found, recorded) in processes.items():
        ours = {name: digest for name, digest in found.items() if digest}
        parts = [f"{verb} {', '.join(repr(name) for name in names)}" for verb, names in (
            ("publish new", [name for name in wanted if name not in ours]),
            ("publish changed", [name for name in wanted
                                 if name in ours and ours[name] != wanted[name]]),
            ("remove", sorted(name for name in ours if name not in wanted))) if names]
        if wanted and not recorded:
            parts.append("write the record of what passed")
        if parts:
            lines.append(f"{label}: {'; '.join(parts)}")
    return lines


# --- the analysts' files --------------------------------------------------------------------


def read_folder(folder: Path) -> tuple[Function, ...]:
    """Every function file of `folder` (NAME.py; other files and folders are not functions),
    read and checked; FunctionError names the first bad one."""
    if not folder.is_dir():
        raise FunctionError(f"{folder} is not a folder")
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix != ".py" or not path.is_file():
            continue
        if not FILE_NAME.fullmatch(path.name):
            raise FunctionError(f"{path.name}: a function file is named like add_one.py "
                                "(a letter, then letters, digits or _, at most 64)")
        if path.stat().st_size > LARGEST_FILE:
            raise FunctionError(f"{path.name}: larger than 1 MiB")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FunctionError(f"{path.name}: cannot be read as UTF-8 ({error})") from None
        found.append(read_function(path.stem, text))
    return tuple(found)


def read_function(name: str, text: str) -> Function:
    """The function `name` defined in `text` (a file's content), its docstring's examples."""
    try:
        tree = ast.parse(text, filename=f"{name}.py")
    except SyntaxError as error:
        raise FunctionError(f"{name}.py line {error.lineno}: {error.msg}") from None
    defined = [node for node in tree.body
               if isinstance(node, ast.FunctionDef) and node.name == name]
    if len(defined) != 1:
        raise FunctionError(f"{name}.py: must define one top-level function {name}() "
                            "(not async, not a class)")
    docstring = ast.get_docstring(defined[0])
    if not docstring:
        raise FunctionError(f"{name}.py: {name}() needs a docstring (its description and "
                            "examples)")
    examples = parse_examples(name, docstring)
    if not examples:
        raise FunctionError(f"{name}.py: {name}()'s docstring declares no example: add one "
                            f"like '>>> {name}([1, 2])' followed by the expected answer")
    description = docstring.split("\n\n", 1)[0].split(">>>", 1)[0].strip()
    return Function(name, text, name, " ".join(description.split()) or name, examples)


def parse_examples(name: str, docstring: str) -> tuple[Example, ...]:
    """The doctest examples of a docstring, each `name(literal, ...)` with a literal answer."""
    try:
        found = doctest.DocTestParser().get_examples(docstring, name)
    except ValueError as error:
        raise FunctionError(f"{name}: {error}") from None
    return tuple(_example(name, item.source.strip(), item.want.strip()) for item in found)


def _example(name: str, call: str, want: str) -> Example:
    where = f"{name}: example '>>> {call}'"
    try:
        node = ast.parse(call, mode="eval").body
    except SyntaxError:
        raise FunctionError(f"{where} is not a Python expression") from None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == name):
        raise FunctionError(f"{where} must be a call of {name}(...)")
    if node.args and node.keywords:
        raise FunctionError(f"{where} mixes positional and keyword arguments (TabPy's "
                            "/query takes one or the other)")
    if any(isinstance(arg, ast.Starred) for arg in node.args) or \
            any(keyword.arg is None for keyword in node.keywords):
        raise FunctionError(f"{where} unpacks arguments: write them out")
    try:
        args = [_json_literal(arg) for arg in node.args]
        kwargs = {keyword.arg: _json_literal(keyword.value) for keyword in node.keywords}
    except (ValueError, TypeError) as error:
        raise FunctionError(f"{where}: an argument is not a JSON literal ({error})") from None
    if not want:  # as doctest reads it: the call answers None (it prints nothing)
        return Example(call, kwargs if kwargs else args, None)
    if want == "None":
        raise FunctionError(f"{where}: a call answering None prints nothing in a doctest: "
                            "leave the answer line out")
    try:
        expected = _json_literal(ast.parse(want, mode="eval").body)
    except (SyntaxError, ValueError, TypeError):
        raise FunctionError(f"{where}: its answer {want!r} is not a JSON literal") from None
    return Example(call, kwargs if kwargs else args, expected)


def _json_literal(node: ast.AST) -> Any:
    """A literal that travels as JSON unchanged: numbers, strings, true/false/None, lists
    (tuples become lists) and dicts with string keys."""
    value = ast.literal_eval(node)
    if json.loads(json.dumps(_as_json(value))) != _as_json(value):
        raise ValueError(f"{ast.unparse(node)[:80]} changes through JSON")
    return _as_json(value)


def _as_json(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_as_json(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("dict keys must be strings")
        return {key: _as_json(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise TypeError(f"{value} has no JSON form")
        return value
    raise TypeError(f"{type(value).__name__} has no JSON form")


# --- TabPy's pre-built models ---------------------------------------------------------------


def _model(name: str, script: str, entry: str, description: str,
           *examples: tuple[str, list, Any], renamed: Mapping | None = None) -> Function:
    return Function(name, script, entry, description,
                    tuple(Example(call, data, expected) for call, data, expected in examples),
                    prebuilt=True, renamed_keywords=renamed or {})


#: TabPy's pre-built models, published under the names and descriptions
#: `tabpy-deploy-models` gives them, each with examples whose answers were computed on the lab
#: hosts with scipy, scikit-learn and NLTK's VADER as TabPy 2.16.0's lock pins them.
PREBUILT = {model.name: model for model in (
    _model("anova", "ANOVA.py", "anova", "Returns the p-value form an ANOVA test",
           ("anova([1, 2, 3], [4, 5, 6], [2, 4, 9])", [[1, 2, 3], [4, 5, 6], [2, 4, 9]],
            0.244140625)),
    _model("ttest", "tTest.py", "ttest", "Returns the p-value form a t-test",
           ("ttest([1, 2, 3], [4, 5, 6])", [[1, 2, 3], [4, 5, 6]], 0.021311641128756713)),
    # TabPy 2.16.0's PCA calls OneHotEncoder(sparse=False); scikit-learn renamed the keyword
    # sparse_output in 1.2 and removed `sparse` in 1.4 (the lock pins 1.9.1): as written, the
    # model fails on every call.
    _model("PCA", "PCA.py", "PCA", "Returns the specified principal component",
           ("PCA(1, [1, 2, 3], [2, 4, 7])", [1, [1, 2, 3], [2, 4, 7]],
            [-1.6689804723314048, -0.11470786693528089, 1.7836883392666856]),
           renamed={"OneHotEncoder": {"sparse": "sparse_output"}}),
    _model("Sentiment Analysis", "SentimentAnalysis.py", "SentimentAnalysis",
           "Returns a sentiment score between -1 and 1 for a given string",
           ("SentimentAnalysis(['I love this', 'This is terrible'])",
            [["I love this", "This is terrible"]], [0.6369, -0.4767])),
)}
#: The NLTK data each pre-built model needs (shipped with the wheelhouse, never downloaded).
PREBUILT_NLTK_DATA = {"Sentiment Analysis": ("vader_lexicon",)}


def nltk_data_needed(asked: list[str], functions: tuple[Function, ...]) -> tuple[str, ...]:
    """The NLTK data a host gets: what it asks for and what its pre-built models need."""
    return tuple(sorted({*asked, *(resource for function in functions
                                   for resource in PREBUILT_NLTK_DATA.get(function.name, ()))}))


def prebuilt_models(names: list[str]) -> tuple[Function, ...]:
    unknown = [name for name in names if name not in PREBUILT]
    if unknown:
        raise FunctionError(f"{', '.join(map(repr, unknown))}: not a pre-built model of "
                            f"TabPy (one of {', '.join(map(repr, PREBUILT))})")
    return tuple(PREBUILT[name] for name in dict.fromkeys(names))


def declared(models: list[str], folder: Path | None) -> tuple[Function, ...]:
    """What a host publishes: the pre-built models it names, then the files of `folder`."""
    functions = (*prebuilt_models(models), *(read_folder(folder) if folder else ()))
    names = [function.name.lower() for function in functions]
    clash = next((name for name in names if names.count(name) > 1), None)
    if clash:
        raise FunctionError(f"{clash}.py: a pre-built model has this name (TabPy's endpoint "
                            "names ignore case): rename the file")
    return functions
