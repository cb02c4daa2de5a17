"""Client trust, pure parts: what each machine trusts, per OS, and the Windows/macOS artifacts."""

from __future__ import annotations

import plistlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from tabpy_provision import pki
from tabpy_provision.controller.files import Staged
from tabpy_provision.server import render
from tabpy_provision.settings import table as settings
from tabpy_provision.settings.value_checks import TRUST_OS_FAMILIES
from tabpy_provision.trust import plan as trust

NOW = datetime.now(UTC).replace(microsecond=0)
CLIENT = "client1.example.com"
LAB = pki.permitted_for(["tabpy1.lab.test"])


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    """A CA in the middle of a root rotation: active + previous root, retired intermediate."""
    folder = tmp_path_factory.mktemp("pki")
    first = pki.ensure_ca(folder, permitted=LAB, common_name="Lab", now=NOW)
    pki.stage_root(folder, permitted=LAB, common_name="Lab", now=NOW)
    ca = pki.activate_root(folder, now=NOW)
    return first, ca


def subjects(certs) -> list[str]:
    return [c.subject for c in certs]


def test_default_selection_trusts_every_live_root_and_retires_the_rest(rotated):
    first, ca = rotated
    selected = trust.trust_set(ca.registry, ["root"], now=NOW)
    assert subjects(selected.install) == ["Lab Root CA", "Lab Root CA G2"]
    assert {c.role for c in selected.install} == {"root"}
    # Intermediates are not selected, so they are ours to remove (here or on Windows).
    assert subjects(selected.retire) == ["Lab Intermediate CA", "Lab Intermediate CA G2"]


def test_intermediates_when_selected_but_never_a_retired_one(rotated):
    _, ca = rotated
    selected = trust.trust_set(ca.registry, ["root", "intermediate"], now=NOW)
    assert subjects(selected.install) == ["Lab Root CA", "Lab Root CA G2",
                                          "Lab Intermediate CA G2"]
    assert subjects(selected.retire) == ["Lab Intermediate CA"]


def test_retired_root_leaves_the_trust_set(tmp_path):
    pki.ensure_ca(tmp_path, permitted=LAB, common_name="Lab", now=NOW)
    pki.stage_root(tmp_path, permitted=LAB, common_name="Lab", now=NOW)
    pki.activate_root(tmp_path, now=NOW)
    pki.retire_previous_roots(tmp_path, now=NOW)
    selected = trust.trust_set(pki.load_ca(tmp_path, now=NOW).registry, ["root"], now=NOW)
    assert subjects(selected.install) == ["Lab Root CA G2"]
    assert "Lab Root CA" in subjects(selected.retire)


def test_expired_certificate_is_not_installed(rotated):
    _, ca = rotated
    later = ca.root_cert.not_valid_after_utc + timedelta(days=1)
    assert trust.trust_set(ca.registry, ["root"], now=later).install == ()


def test_same_certificate_from_several_servers_counts_once(rotated):
    _, ca = rotated
    assert trust.trust_set([*ca.registry, *ca.registry], ["root"], now=NOW) == \
        trust.trust_set(ca.registry, ["root"], now=NOW)


def test_names_fingerprints_and_stores(rotated):
    _, ca = rotated
    root = trust.TrustCert("root", ca.root_cert)
    assert re.fullmatch(r"lab-root-ca-g2-[0-9a-f]{12}", root.label)
    assert root.name == f"tabpy-provision-{root.label}"
    assert re.fullmatch(r"[0-9A-F]{40}", root.sha1)
    assert root.der == ca.root_cert.public_bytes(serialization.Encoding.DER)
    assert (root.windows_store, trust.TrustCert("intermediate", ca.intermediate_cert)
            .windows_store) == ("Root", "CA")


@pytest.mark.parametrize(("kernel", "meta", "family"), [
    ("Linux", {"ID": "debian"}, "debian"),
    ("Linux", {"ID": "ubuntu", "ID_LIKE": "debian"}, "debian"),
    ("Linux", {"ID": "rocky", "ID_LIKE": '"rhel centos fedora"'}, "rhel"),
    ("Linux", {"ID": "almalinux", "ID_LIKE": "rhel centos fedora"}, "rhel"),
    ("Linux", {"ID": "fedora"}, "rhel"),
    ("Linux", {"ID": "opensuse-leap", "ID_LIKE": "suse opensuse"}, "suse"),
    ("Linux", {"ID": "sles"}, "suse"),
    ("Linux", {"ID": "somethingnew", "ID_LIKE": "ubuntu"}, "debian"),
    ("Darwin", None, "macos"),
    ("Linux", {"ID": "alpine"}, None),
    ("FreeBSD", None, None),
])
def test_os_family_from_facts(kernel, meta, family):
    assert trust.os_family(kernel, meta) == family


@pytest.mark.parametrize(("family", "path", "update", "refresh"), [
    ("debian", "/usr/local/share/ca-certificates/tabpy-provision-prod-{}.crt",
     "update-ca-certificates", "update-ca-certificates --fresh"),
    ("rhel", "/etc/pki/ca-trust/source/anchors/tabpy-provision-prod-{}.pem",
     "update-ca-trust extract", "update-ca-trust extract"),
    ("suse", "/etc/pki/trust/anchors/tabpy-provision-prod-{}.pem", "update-ca-certificates",
     "update-ca-certificates"),
])
def test_trust_store_paths_and_commands_per_family(rotated, family, path, update, refresh):
    _, ca = rotated
    cert = trust.TrustCert("root", ca.root_cert)
    plan = trust.plan_client_trust(CLIENT, {"trust_os_family": family}, ca.registry,
                                   scope="prod", detected_family=None, os_description="x")
    store = plan.linux_store
    assert (plan.linux_path(cert), store.update, store.refresh) == (path.format(cert.label),
                                                                    update, refresh)


def test_every_family_setting_has_a_store():
    assert {*trust.LINUX_STORES, "macos"} == set(TRUST_OS_FAMILIES)


def test_scope_is_the_servers_environment():
    assert trust.scope_of(["production", "production"]) == "production"
    assert trust.scope_of(["staging", "production"]) == "production+staging"
    assert trust.scope_of([]) == "default"


def test_client_plan_and_its_problems(rotated):
    _, ca = rotated
    plan = trust.plan_client_trust(CLIENT, {}, ca.registry, scope="prod", detected_family="debian",
                                   os_description="Linux debian", now=NOW)
    assert (plan.family, subjects(plan.install)) == ("debian", ["Lab Root CA",
                                                                "Lab Root CA G2"])
    overridden = trust.plan_client_trust(CLIENT, {"trust_os_family": "suse"}, ca.registry,
                                         scope="prod", detected_family="debian",
                                         os_description="x")
    assert overridden.family == "suse"
    with pytest.raises(settings.SettingsError) as error:
        trust.plan_client_trust(CLIENT, {}, ca.registry, scope="prod", detected_family=None,
                                os_description="Linux alpine")
    assert error.value.problems == [
        f"{CLIENT}: trust_os_family: cannot tell the trust store of Linux alpine; set it to "
        "one of debian, rhel, suse, macos"]
    for value, problem in ((["intermediate"], "must include root (OpenSSL, curl and Java "
                                              "anchor trust at a root)"),
                           (["root", "leaf"], "must be a list of root and intermediate, got "
                                              "['root', 'leaf']"),
                           ("root", "must be a list of root and intermediate, got 'root'")):
        with pytest.raises(settings.SettingsError) as error:
            trust.plan_client_trust(CLIENT, {"trust_ca_certificates": value}, ca.registry,
                                    scope="prod", detected_family="debian", os_description="x")
        assert error.value.problems == [f"{CLIENT}: trust_ca_certificates: {problem}"]


def test_linux_stale_files_are_only_our_unwanted_ones(rotated):
    _, ca = rotated
    plan = trust.plan_client_trust(CLIENT, {}, ca.registry, scope="prod", detected_family="debian",
                                   os_description="x", now=NOW)
    wanted = [plan.linux_path(c).rsplit("/", 1)[1] for c in plan.install]
    assert wanted[0].startswith("tabpy-provision-prod-lab-root-ca-")
    present = [*wanted, "tabpy-provision-prod-old-root-0123456789ab.crt", "company-root.crt",
               "tabpy-provision-staging-lab-root-ca-0123456789ab.crt"]  # another scope's
    assert plan.stale_files(present) == [
        "/usr/local/share/ca-certificates/tabpy-provision-prod-old-root-0123456789ab.crt"]


def test_macos_changes_add_missing_and_delete_ours_that_are_unwanted(rotated):
    first, ca = rotated
    plan = trust.plan_client_trust(CLIENT, {}, ca.registry, scope="prod", detected_family="macos",
                                   os_description="x", now=NOW)
    new_root, old_root = (trust.TrustCert("root", c) for c in (ca.root_cert, first.root_cert))
    old_inter = trust.TrustCert("intermediate", first.intermediate_cert)
    someone_elses = "AB" * 20
    present = [old_root.sha1, old_inter.sha1, someone_elses]
    adds, deletes = plan.macos_changes(present, recorded=[old_root, old_inter])
    assert subjects(adds) == ["Lab Root CA G2"]
    # The old root is still wanted (previous); the retired intermediate goes; others stay.
    assert subjects(deletes) == ["Lab Intermediate CA"]
    assert plan.macos_changes([*present, new_root.sha1], recorded=[]) == ([], [old_inter])
    # Another scope's record still wants the old intermediate: it stays.
    assert plan.macos_changes([*present, new_root.sha1], recorded=[old_inter],
                              wanted_elsewhere=[old_inter]) == ([], [])
    assert plan.macos_record_path == "/var/db/tabpy-provision/trusted-prod.pem"
    record = trust.read_record(plan.macos_record.decode().splitlines())
    assert [(c.role, c.sha1) for c in record] == [(c.role, c.sha1) for c in plan.install]
    assert trust.read_record(None) == []


def test_mobileconfig_payload_is_each_roots_der(rotated):
    _, ca = rotated
    selected = trust.trust_set(ca.registry, ["root", "intermediate"], now=NOW)
    data = trust.mobileconfig(selected.install, identifier="org.example.trust",
                              organization="Example")
    profile = plistlib.loads(data)
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadScope"] == "System"
    payloads = profile["PayloadContent"]
    assert [p["PayloadType"] for p in payloads] == ["com.apple.security.root"] * 2
    roots = [c for c in selected.install if c.role == "root"]
    assert [p["PayloadContent"] for p in payloads] == [c.der for c in roots]
    assert [x509.load_der_x509_certificate(p["PayloadContent"]) for p in payloads] == \
        [c.cert for c in roots]
    assert len({p["PayloadUUID"] for p in payloads} | {profile["PayloadUUID"]}) == 3
    # Deterministic (a rerun changes nothing); a different root set gets a new profile UUID.
    assert trust.mobileconfig(selected.install, identifier="org.example.trust",
                              organization="Example") == data
    fewer = plistlib.loads(trust.mobileconfig(roots[:1], identifier="org.example.trust",
                                              organization="Example"))
    assert fewer["PayloadIdentifier"] == profile["PayloadIdentifier"]
    assert fewer["PayloadUUID"] != profile["PayloadUUID"]


def test_powershell_script_checks_thumbprints_before_and_after(rotated):
    _, ca = rotated
    selected = trust.trust_set(ca.registry, ["root", "intermediate"], now=NOW)
    script = render.windows_trust_script(selected, "prod")
    stems = trust.artifact_stems(selected.install)
    for cert in selected.install:
        assert (f"@{{ Store = '{cert.windows_store}'; Thumbprint = '{cert.sha1}'; "
                f"File = '{stems[cert.sha256]}.cer'; Subject = '{cert.subject}' }}") in script
    for cert in selected.retire:
        assert f"@{{ Thumbprint = '{cert.sha1}'; Subject = '{cert.subject}' }}" in script
    # Idempotent: skipped when the thumbprint is already in the store.
    assert ("Get-ChildItem -Path $store | Where-Object { $_.Thumbprint -eq $entry.Thumbprint }"
            in script)
    # A tampered or wrong .cer is refused before anything is imported.
    assert "$file.Thumbprint -ne $entry.Thumbprint" in script
    assert script.index("$file.Thumbprint -ne") < script.index("Import-Certificate")
    assert 'Import-Certificate -FilePath (Join-Path $Here $entry.File) -CertStoreLocation ' \
           '$store' in script
    assert '$store = "Cert:\\LocalMachine\\$($entry.Store)"' in script
    # Removal by thumbprint: retired ones and our own (FriendlyName) that are not wanted.
    assert "foreach ($storeName in 'Root', 'CA')" in script
    assert "($wanted -notcontains $_.Thumbprint)" in script
    assert "($retired -contains $_.Thumbprint)" in script
    assert "Remove-Item -LiteralPath $cert.PSPath" in script
    # What it imports is tagged in the store, so a later version can tell it is ours...
    assert '$cert = Get-Item -LiteralPath "$store\\$($entry.Thumbprint)"' in script
    assert '$cert.FriendlyName = "$FriendlyPrefix $($entry.Subject)"' in script
    # ...and trusted for Server Authentication only (its EKU property in the store): on import,
    # and on one of ours imported before the limit (LIMITED); others' certificates untouched.
    usage = ", ".join(f"0x{byte:02x}" for byte in x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]).public_bytes())
    assert f"$ServerAuthOnly = [byte[]]@({usage})" in script
    assert "const uint EnhancedKeyUsageProperty = 9;  // CERT_ENHKEY_USAGE_PROP_ID" in script
    assert script.count("[TabPyProvision.CertUsage]::Set($cert.Handle, $ServerAuthOnly)") == 2
    assert ('if (($cert.FriendlyName -like "$FriendlyPrefix *") -and -not '
            '(Test-ServerAuthOnly $cert))') in script
    assert script.index("CertUsage]::Set") > script.index("$file.Thumbprint -ne")
    assert script.index("Write-Output (\"ADDED") > script.rindex("CertUsage]::Set")
    assert "exit 4" in script
    for code in ("exit 0", "exit 1", "exit 2", "exit 3"):
        assert code in script
    assert "IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)" in script
    # Only this scope's tagged certificates are candidates for removal.
    assert "$FriendlyPrefix = 'tabpy-provision prod'" in script


def test_powershell_quotes_subjects(tmp_path):
    ca = pki.ensure_ca(tmp_path, permitted=LAB, common_name="O'Brien", now=NOW)
    script = render.windows_trust_script(trust.trust_set(ca.registry, ["root"], now=NOW), "prod")
    assert "Subject = 'O''Brien Root CA'" in script


def test_artifacts_are_written_once_and_stale_ones_removed(rotated, tmp_path):
    _, ca = rotated
    selected = trust.trust_set(ca.registry, ["root", "intermediate"], now=NOW)
    files = trust.artifact_files(selected, render.windows_trust_script(selected, "prod"),
                                 identifier=trust.profile_identifier(tmp_path / "lab"),
                                 organization="Lab")
    folder = tmp_path / "artifacts"
    staged = Staged()
    first = trust.stage_artifacts(folder, files, staged)
    assert sorted(first) == sorted(files)
    assert not folder.exists()  # staged: written when the run applies it
    staged.apply()
    assert trust.stage_artifacts(folder, files, staged) == []
    stems = trust.artifact_stems(selected.install)
    for cert in selected.install:
        assert (folder / "windows" / f"{stems[cert.sha256]}.cer").read_bytes() == cert.der
    assert plistlib.loads((folder / "macos" / trust.MOBILECONFIG).read_bytes())[
        "PayloadIdentifier"] == "org.tabpy-provision.ca-trust.lab"
    fewer = dict(files)
    gone = f"windows/{stems[selected.install[-1].sha256]}.cer"
    del fewer[gone]
    assert trust.stage_artifacts(folder, fewer, staged) == [f"{gone} (removed)"]
    staged.apply()
    assert not (folder / gone).exists()


def test_a_preview_names_the_artifacts_a_run_writes_though_a_new_ca_has_another_key(tmp_path):
    """A preview stages a new CA with a key of its own; the real run makes another: the files
    are named after the certificates' subjects, so both name the same files."""
    names = []
    for run in ("preview", "run"):
        ca = pki.ensure_ca(tmp_path / run, permitted=LAB, common_name="Lab", now=NOW)
        selected = trust.trust_set(ca.registry, ["root", "intermediate"], now=NOW)
        names.append(sorted(trust.artifact_files(
            selected, render.windows_trust_script(selected, "prod"),
            identifier="org.example.trust", organization="Lab")))
    assert names[0] == names[1]
    assert "windows/tabpy-provision-lab-root-ca.cer" in names[0]


def test_certificates_sharing_a_subject_keep_files_of_their_own(tmp_path):
    certs = [trust.TrustCert(pki.ROOT, pki.ensure_ca(tmp_path / str(n), permitted=LAB,
                                                      common_name="Lab", now=NOW).root_cert)
             for n in range(2)]
    stems = trust.artifact_stems(certs)
    assert len(set(stems.values())) == 2
    assert all(stems[c.sha256] == f"tabpy-provision-lab-root-ca-{c.sha256[:12]}" for c in certs)
