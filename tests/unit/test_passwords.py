"""Our password file must be exactly what TabPy computes and parses."""

import pytest

from tabpy_provision.server import passwords
from tests.tabpy_source import tabpy_hash_password

PAIRS = [
    ("tableau", "s3cret-Pass"),
    ("Alice", "correct horse battery staple".replace(" ", "-")),
    ("BOB", "p@ss%w0rd^"),
    ("zoë", "pässwörd-ünïcode"),
    ("用户", "密码123"),
    ("MiXeD.Case_user-1", "MiXeD"),
    ("a", "x"),
    ("svc-tableau", "A" * 200),
    ("émile", "🔑emoji🔑"),
    ("o'brien", "quote\"d'pass"),
    ("user@example.com", "~!@#$%^&*()_+="),
]


@pytest.mark.parametrize(("user", "password"), PAIRS)
def test_hash_equals_tabpys_own(user, password):
    assert passwords.tabpy_hash(user, password) == tabpy_hash_password(user, password)


def test_hash_ignores_user_case_like_tabpy():
    assert passwords.tabpy_hash("Alice", "pw") == passwords.tabpy_hash("alice", "pw")
    assert passwords.tabpy_hash("alice", "pw") != passwords.tabpy_hash("alice", "pW")


def test_rendered_file_is_stable_sorted_and_parses_like_tabpy():
    users = {"zed": "one", "Alice": "two", "bob": "three"}
    first = passwords.render_password_file(users)
    again = passwords.render_password_file(dict(reversed(list(users.items()))))
    assert first == again
    text = first.decode()
    assert text.startswith("#")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert [line.split(" ")[0] for line in lines] == ["alice", "bob", "zed"]
    parsed = passwords.parse_password_file(text)
    assert parsed == {u.lower(): tabpy_hash_password(u, p) for u, p in users.items()}
    assert all(len(h) == 128 and h == h.lower() for h in parsed.values())


@pytest.mark.parametrize(("content", "reason"), [
    ("", "no users"),
    ("# only a comment\n", "no users"),
    ("alice\n", "one space"),
    ("alice  abc\n", "one space"),
    ("alice abc \n", "one space"),
    ("alice\tabc\n", "one space"),
    ("alice abc\nALICE def\n", "duplicate"),
])
def test_parser_refuses_what_tabpy_refuses(content, reason):
    with pytest.raises(ValueError, match=reason):
        passwords.parse_password_file(content)


@pytest.mark.parametrize(("user", "fragment"), [
    ("", "non-empty"), ("al ice", "space-separated"), ("al:ice", "':'"), ("#alice", "comments"),
    ('"alice', "csv"), ("../../x", "file name"), (".hidden", "not first: ."),
])
def test_bad_user_names(user, fragment):
    assert fragment in passwords.user_name_problem(user)


def test_good_user_name():
    assert passwords.user_name_problem("svc.tableau-01") is None


@pytest.mark.parametrize(("password", "fragment"), [
    ("", "empty"), ("a:b", "':'"), ("a b", "whitespace"), ("ab\n", "whitespace"),
])
def test_bad_passwords_and_message_hides_value(password, fragment):
    problem = passwords.password_problem(password)
    assert fragment in problem
    assert not password.strip() or password.strip() not in problem


def test_duplicates_are_case_insensitive():
    assert passwords.duplicate_users({"Alice": 1, "bob": 2, "ALICE": 3}) == ["'Alice' and 'ALICE'"]
    assert passwords.duplicate_users({"alice": 1, "bob": 2}) == []
