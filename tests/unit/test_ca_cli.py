"""`tabpy-provision ca`: which CAs a command applies to, and what it prints."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from tabpy_provision import pki
from tabpy_provision.cli import ca, common
from tabpy_provision.cli.main import main
from tests.unit.legacy_ca import write_legacy_ca

NAMES = pki.permitted_for(["a.example.com"])


def inventory(tmp_path, more: str = "") -> str:
    """Two TabPy servers on the private CA (and a pool balancer in front, with `more`). One
    file per content: pyinfra keeps the code of a file it read."""
    path = tmp_path / f"inventory{more.replace('.', '-')}.py"
    shared = f"'pki_dir': {str(tmp_path / 'pki')!r}"
    path.write_text(
        "tabpy_servers = ([\n"
        "    ('a.example.com', {}),\n"
        "    ('b.example.com', {}),\n"
        "    ('c.example.com', {'tabpy_certificate_file': '/x.pem', 'tabpy_key_file': '/x.key'}),\n"
        "    ('d.example.com', {'tabpy_transfer_protocol': 'http', 'pki_dir': '/elsewhere'}),\n"
        f"], {{{shared}, 'pki_common_name': 'Corp'}})\n"
        + (f"tabpy_lb = ([('lb1', {{}})], {{{shared}, 'lb_service_name': {more!r}}})\n"
           if more else ""))
    return str(path)


def test_only_the_private_ca_of_https_servers(tmp_path):
    assert {folder: (found.common_name, [h for h, _ in found.servers])
            for folder, found in ca.private_cas(common.load_state(argparse.Namespace(
                inventory=inventory(tmp_path))).inventory).items()} == {
        str(tmp_path / "pki"): ("Corp", ["a.example.com", "b.example.com"])}


def test_rotate_intermediate_then_root_steps(tmp_path, capsys):
    pki.ensure_ca(tmp_path / "pki", permitted=NAMES, common_name="Corp")
    assert main(["ca", "rotate-intermediate", "-i", inventory(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'pki'}: new intermediate Corp Intermediate CA G2" in out
    assert "next: deploy the site: every TabPy server gets a leaf" in out
    assert main(["ca", "rotate-root", "-i", inventory(tmp_path)]) == 0
    assert "staged root Corp Root CA G2" in capsys.readouterr().out
    assert main(["ca", "rotate-root", "-i", inventory(tmp_path)]) == 1
    assert "a new root is already staged" in capsys.readouterr().err


def test_nothing_to_do_without_a_private_ca(tmp_path, capsys):
    path = tmp_path / "inventory.py"
    path.write_text("tabpy_servers = ([('c.example.com', {'tabpy_certificate_file': '/x.pem', "
                    "'tabpy_key_file': '/x.key'})], {})\n")
    assert main(["ca", "rotate-root", "-i", str(path)]) == 1
    assert "no TabPy server of this inventory uses the private CA" in capsys.readouterr().err


def test_a_ca_without_constraints_moves_through_the_root_rotation(tmp_path, capsys):
    """rotate-root stages a root constrained to every name that uses the CA - the pool's
    too; activate-root refuses it once the inventory names more than it permits."""
    write_legacy_ca(tmp_path / "pki", datetime.now(UTC), common_name="Corp")
    assert main(["ca", "rotate-root", "-i", inventory(tmp_path, more="tabpy.pool.test")]) == 0
    assert f"{tmp_path / 'pki'}: staged root Corp Root CA G2 (permits example.com, pool.test)" \
        in capsys.readouterr().out
    wider = inventory(tmp_path, more="tabpy.other.test")
    assert main(["ca", "activate-root", "-i", wider]) == 1
    assert capsys.readouterr().err == (
        f"tabpy-provision: {tmp_path / 'pki'}: not activated: the staged root does not permit "
        f"tabpy.other.test (lb1: lb_service_name); remove {tmp_path / 'pki' / 'ca' / 'next'} "
        "and run rotate-root again\n")
    assert main(["ca", "activate-root", "-i", inventory(tmp_path, more="tabpy.pool.test")]) == 0
    assert "active root Corp Root CA G2" in capsys.readouterr().out
    assert pki.of_certificate(pki.load_ca(tmp_path / "pki").intermediate_cert) == \
        pki.permitted_for(["a.example.com", "tabpy.pool.test"])


def test_no_new_certificate_for_an_inventory_whose_hosts_are_all_refused(tmp_path, capsys):
    pki.ensure_ca(tmp_path / "pki", permitted=NAMES)
    path = tmp_path / "broken.py"
    path.write_text(f"tabpy_servers = ([('a.example.com', {{'tabpy_port': -1}})], "
                    f"{{'pki_dir': {str(tmp_path / 'pki')!r}}})\n")
    assert main(["ca", "rotate-root", "-i", str(path)]) == 1
    assert "tabpy-provision: a.example.com: tabpy_port: must be an integer from 1 to 65535, " \
        "got -1\ntabpy-provision: refused (1 problem); nothing was changed" \
        in capsys.readouterr().err
    assert not (tmp_path / "pki" / "ca" / "next").exists()
