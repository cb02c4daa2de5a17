"""Tableau Cloud through the REST API stand-in in its Cloud mode on tableau1 (tests/standins: no
Tableau Cloud is reachable here): sites with a token each, no server-level settings, SSL and
authentication required. The lab site serves Pebble's certificates (inventory/lab_acme.py),
and Pebble's root plays the public roots of the deploy's check and of Cloud's Test Connection
(from the controller).

A Cloud connection is created once per site and a rerun changes nothing; a TabPy whose chain
does not verify against the public roots (the private CA; an ACME CA that is not public) is
refused before any change, with one line saying why Tableau Cloud would refuse it.
"""

from __future__ import annotations

import pytest

from lab import acme as lab_acme
from lab.hosts import get_host
from tests.integration.conftest import ROOT, find_password, pyinfra
from tests.integration.test_tableau import TABLEAU, TOKEN_NAME, TableauNode, site_check, why

pytestmark = pytest.mark.lab

ACME_INVENTORY = "inventory/lab_acme.py"
SITES = ["finance", "marketing"]
SERVICE = "tabpy.lab.test"


def cloud_inventory(folder, node: TableauNode, base: str = ACME_INVENTORY, **data) -> str:
    """`base` with a tableau_cloud group: @local, the controller, managing the stand-in's
    Cloud sites."""
    cloud = {
        "tableau_cloud_url": f"https://{TABLEAU}",
        "tableau_rest_connect_address": get_host(TABLEAU).address,
        "tableau_rest_ca_file": str(node.ca_file),
        "tableau_cloud_sites": {site: {"token_name": f"{TOKEN_NAME}-{site}",
                                       "token_secret": f"file:{node.secret_file}"}
                                for site in SITES},
        "tableau_tabpy_host": SERVICE, "tableau_tabpy_user": "tableau",
        "tableau_cloud_public_roots": str(lab_acme.root_path()), **data}
    path = folder / "lab_cloud_variant.py"
    path.write_text(
        "import runpy\n"
        f"base = runpy.run_path({str(ROOT / base)!r})\n"
        "tabpy_servers, tabpy_lb = base['tabpy_servers'], base['tabpy_lb']\n"
        # tableau1 is the Cloud pod's stand-in here, not a Tableau Server to connect
        "tableau_servers = (base['tableau_servers'][0], {'secrets_dir': 'secrets/lab'})\n"
        "clients = base['clients']\n"
        f"tableau_cloud = [('@local', {cloud!r})]\n")
    return str(path)


def deploy(inventory: str, *args: str):
    run = pyinfra("--json", *args, inventory=inventory)
    assert run.returncode == 0, why(run)
    return run


@pytest.fixture(scope="module")
def pod(converged, tmp_path_factory):
    """The lab site on Pebble's certificates, the stand-in as a Cloud pod; back to the lab's
    private CA afterwards."""
    node = TableauNode(tmp_path_factory.mktemp("cloud"))
    node.setup()
    deploy(ACME_INVENTORY)
    node.start_rest(SITES, cloud=True)
    yield node
    node.teardown()
    deploy("inventory/lab.py")


def writes(node: TableauNode) -> dict[str, int]:
    return {name: count for name, count in node.counters("rest").items()
            if name.startswith(("put", "post", "delete"))}


def test_each_cloud_site_gets_its_connection_once_and_a_rerun_changes_nothing(pod, tmp_path):
    inventory = cloud_inventory(tmp_path, pod)
    first = deploy(inventory)
    assert [hosts for name, hosts in first.changed().items()
            if "TabPy connection of each site (Tableau Cloud" in name] == [["@local"]]
    assert writes(pod) == {"put_site": 2, "post_connection": 2}  # no server-level settings
    state = pod.state("rest")
    for site in SITES:
        assert state["sites"][site]["enabled"]
        [item] = state["sites"][site]["connections"].values()
        assert item == {"host": SERVICE, "port": 9004, "is_ssl_enabled": True,
                        "is_auth_enabled": True, "username": "tableau",
                        "password": find_password(ACME_INVENTORY, "tableau"),
                        "connection_brief": {"connection_name": "TabPy",
                                             "connection_type": "TABPY"}}
    assert "switch_site" not in state["counters"]  # each site signs in with its own token

    rerun = deploy(inventory)
    assert rerun.changed() == {}, rerun.changed()
    assert writes(pod) == {"put_site": 2, "post_connection": 2}
    checked = site_check(inventory)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    [row] = [line for line in checked.stdout.splitlines() if line.startswith("@local (Cloud)")]
    assert f"https://{SERVICE}:9004" in row and " PASS " in row and \
        "/evaluate = 42 over verified TLS with basic auth" in row, row


@pytest.mark.parametrize(("base", "roots", "issuer"), [
    ("inventory/lab.py", str(lab_acme.root_path()), "tabpy-provision lab Intermediate CA"),
    (ACME_INVENTORY, None, "Pebble Intermediate CA"),  # the controller's public roots
])
def test_a_tabpy_chain_cloud_would_refuse_stops_the_run_before_any_change(pod, tmp_path, base,
                                                                         roots, issuer):
    before = writes(pod)
    inventory = cloud_inventory(tmp_path, pod, base=base, tableau_cloud_public_roots=roots)
    run = pyinfra(inventory=inventory)
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.startswith("tabpy-provision: ")]
    assert len(lines) == 2 and lines[1] == "tabpy-provision: refused (1 problem); nothing was " \
        "changed", run.stderr[-3000:]
    assert lines[0].startswith(f"tabpy-provision: @local: tableau_tabpy_host: Tableau Cloud "
                               f"would refuse {SERVICE}: its chain (issued by '{issuer}"), lines
    assert "Cloud accepts only a publicly trusted CA" in lines[0]
    assert "nothing was changed" in run.output
    assert writes(pod) == before
