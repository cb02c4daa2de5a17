"""`python -m tabpy_provision.ca`: which CAs a command applies to, and what it prints."""

from __future__ import annotations

from tabpy_provision import ca, pki

NAMES = pki.permitted_for(["a.example.com"])


def inventory(tmp_path) -> str:
    path = tmp_path / "inventory.py"
    path.write_text(
        "tabpy_servers = ([\n"
        "    ('a.example.com', {}),\n"
        "    ('b.example.com', {}),\n"
        "    ('c.example.com', {'tabpy_certificate_file': '/x.pem', 'tabpy_key_file': '/x.key'}),\n"
        "    ('d.example.com', {'tabpy_transfer_protocol': 'http', 'pki_dir': '/elsewhere'}),\n"
        f"], {{'pki_dir': {str(tmp_path / 'pki')!r}, 'pki_common_name': 'Corp'}})\n")
    return str(path)


def test_only_the_private_ca_of_https_servers(tmp_path):
    assert {folder: (found.common_name, [h for h, _ in found.servers])
            for folder, found in ca.private_cas(inventory(tmp_path)).items()} == {
        str(tmp_path / "pki"): ("Corp", ["a.example.com", "b.example.com"])}


def test_rotate_intermediate_then_root_steps(tmp_path, capsys):
    pki.ensure_ca(tmp_path / "pki", permitted=NAMES, common_name="Corp")
    assert ca.main([inventory(tmp_path), "rotate-intermediate"]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'pki'}: new intermediate Corp Intermediate CA G2" in out
    assert "next: deploy the site: every TabPy server gets a leaf" in out
    assert ca.main([inventory(tmp_path), "rotate-root"]) == 0
    assert "staged root Corp Root CA G2" in capsys.readouterr().out
    assert ca.main([inventory(tmp_path), "rotate-root"]) == 1
    assert "a new root is already staged" in capsys.readouterr().err


def test_nothing_to_do_without_a_private_ca(tmp_path, capsys):
    path = tmp_path / "inventory.py"
    path.write_text("tabpy_servers = ([('c.example.com', {'tabpy_certificate_file': '/x.pem', "
                    "'tabpy_key_file': '/x.key'})], {})\n")
    assert ca.main([str(path), "rotate-root"]) == 1
    assert "no TabPy server of this inventory uses the private CA" in capsys.readouterr().err
