#!/usr/bin/env python3
"""STAND-IN for macOS `security` (the keychain and trust-settings command), for tests only.

No Mac is reachable here, so tests install this file as `/usr/local/bin/security` on a lab host
and run the real macOS trust operation against it. It keeps its state (keychains, admin trust
settings, the authorization database) in one JSON file (`$SECURITY_STANDIN_STATE`, default
/var/lib/security-standin/state.json) and logs every call there, so tests can check the order.
Standard library and the `openssl` command only (a lab host has no `cryptography`).

Modelled, following `man security` and Apple's documented behaviour:
- find-certificate [-a] [-c name] [-Z] [-p] [keychain...]: prints "SHA-256 hash:" and
  "SHA-1 hash:" lines with -Z, PEM with -p; exit 44 "could not be found" when nothing matches.
- add-trusted-cert [-d] [-r trustRoot|trustAsRoot|deny|unspecified] [-p policy] [-s string]
  [-k keychain] certFile: adds the certificate to the keychain and records trust settings.
  With -d (admin domain) it is REFUSED, as over SSH on macOS 11+, unless the right
  com.apple.trust-settings.admin is currently "allow": "The authorization was denied since no
  user interaction was possible." Without -d (user domain) it is always refused (a password
  prompt would be needed). trustRoot is refused for a certificate that is not self-signed.
  -p takes the policy names of `man security` (ssl, smime, codeSign, ...), each a usage
  constraint of the trust settings; an unknown one is refused.
- remove-trusted-cert [-d] certFile: removes trust settings (same authorization as adding).
- add-certificates [-k keychain] file...: adds without trust settings.
- delete-certificate [-c name | -Z hash] [-t] [keychain...]: deletes; -t also drops trust
  settings of the user domain.
- dump-trust-settings [-d] [-s]: lists certificates with trust settings of a domain, with the
  policy of each setting that has one.
- authorizationdb read RIGHT (plist on stdout), authorizationdb write RIGHT [allow|deny|RULE]
  (a rule name, or a plist read from stdin); writing needs root. "YES (0)" / "NO (-60005)" on
  stderr as the real command prints them.
"""

from __future__ import annotations

import hashlib
import json
import os
import plistlib
import re
import ssl
import subprocess
import sys
from pathlib import Path

STATE = Path(os.environ.get("SECURITY_STANDIN_STATE", "/var/lib/security-standin/state.json"))
SYSTEM_KEYCHAIN = "/Library/Keychains/System.keychain"
ADMIN_RIGHT = "com.apple.trust-settings.admin"
DEFAULT_RULES = {
    ADMIN_RIGHT: {
        "class": "rule",
        "comment": "For modifying Trust Settings in the Local Admin domain.",
        "rule": ["authenticate-admin"],
        "version": 1,
    },
}
RESULT_TYPES = {"trustRoot": "kSecTrustSettingsResultTrustRoot",
                "trustAsRoot": "kSecTrustSettingsResultTrustAsRoot",
                "deny": "kSecTrustSettingsResultDeny",
                "unspecified": "kSecTrustSettingsResultUnspecified"}
#: `add-trusted-cert -p` names, and how dump-trust-settings shows each policy.
POLICIES = {"ssl": "SSL", "smime": "SMIME", "codeSign": "Code Signing", "IPSec": "IPSec",
            "basic": "Apple X509 Basic", "swUpdate": "Software Update Signing",
            "pkgSign": "Package Signing", "eap": "EAP", "macappstore": "Mac App Store Signing",
            "appleID": "AppleID Sharing", "timestamping": "Timestamping"}
NOT_FOUND = 44


class Failure(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def load_state() -> dict:
    if STATE.exists():
        return json.loads(STATE.read_text())
    return {"keychains": {}, "trust": {"admin": {}, "user": {}}, "rights": {}, "calls": []}


def save_state(state: dict) -> None:
    STATE.parent.mkdir(parents=True, exist_ok=True)
    temp = STATE.with_name(STATE.name + ".tmp")
    temp.write_text(json.dumps(state, indent=1, sort_keys=True))
    temp.replace(STATE)


def read_certificate(path: str) -> dict:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise Failure(f"Error reading file {path}: {error.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" in data:
        der = ssl.PEM_cert_to_DER_cert(data.decode())
    else:
        der = data
    pem = ssl.DER_cert_to_PEM_cert(der)
    names = subprocess.run(["openssl", "x509", "-noout", "-subject", "-issuer", "-nameopt",
                            "RFC2253"], input=pem, capture_output=True, text=True, check=False)
    if names.returncode != 0:
        raise Failure(f"Error reading file {path}: Unknown format in import.")
    fields = dict(line.split("=", 1) for line in names.stdout.splitlines())
    subject, issuer = fields["subject"].strip(), fields["issuer"].strip()
    match = re.search(r"CN=((?:[^,\\]|\\.)*)", subject)
    return {"sha1": hashlib.sha1(der).hexdigest().upper(),  # noqa: S324 - what macOS prints
            "sha256": hashlib.sha256(der).hexdigest().upper(),
            "subject": subject, "issuer": issuer,
            "label": match.group(1) if match else subject, "pem": pem}


def parse(args: list[str], flags: str, options: str) -> tuple[dict, list[str]]:
    """getopt-style: single-letter flags (no value) and options (with a value)."""
    found: dict = {}
    rest = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("-") and len(arg) == 2 and arg[1] in flags:
            found[arg[1]] = True
        elif arg.startswith("-") and len(arg) == 2 and arg[1] in options:
            if index + 1 == len(args):
                raise Failure(f"option requires an argument -- {arg[1]}", 2)
            found.setdefault(arg[1], []).append(args[index + 1])
            index += 1
        elif arg.startswith("-") and len(arg) > 1:
            raise Failure(f"illegal option {arg}", 2)
        else:
            rest.append(arg)
        index += 1
    return found, rest


def right_allows(state: dict, right: str) -> bool:
    rule = state["rights"].get(right, DEFAULT_RULES.get(right, {}))
    return rule.get("class") == "allow" or rule.get("rule") in ("allow", ["allow"])


def require_admin_authorization(state: dict, domain_admin: bool) -> None:
    if not domain_admin or not right_allows(state, ADMIN_RIGHT):
        raise Failure("SecTrustSettingsSetTrustSettings: The authorization was denied since no "
                      "user interaction was possible.")


def keychain_entries(state: dict, keychain: str) -> list[dict]:
    return state["keychains"].setdefault(keychain, [])


def add_to_keychain(state: dict, keychain: str, cert: dict) -> bool:
    entries = keychain_entries(state, keychain)
    if any(e["sha1"] == cert["sha1"] for e in entries):
        return False
    entries.append(cert)
    return True


def cmd_find_certificate(state: dict, args: list[str]) -> str:
    opts, keychains = parse(args, "aZpm", "ce")
    keychains = keychains or sorted(state["keychains"]) or [SYSTEM_KEYCHAIN]
    name = opts.get("c", [None])[-1]
    found = [(keychain, e) for keychain in keychains
             for e in state["keychains"].get(keychain, [])
             if name is None or name in e["label"]]
    if not found:
        raise Failure("security: SecKeychainSearchCopyNext: The specified item could not be "
                      "found in the keychain.", NOT_FOUND)
    out = []
    for keychain, entry in found if opts.get("a") else found[:1]:
        if opts.get("Z"):
            out += [f"SHA-256 hash: {entry['sha256']}", f"SHA-1 hash: {entry['sha1']}"]
        out += [f'keychain: "{keychain}"', "version: 512", "class: 0x80001000", "attributes:",
                f'    "labl"<blob>="{entry["label"]}"']
        if opts.get("p"):
            out.append(entry["pem"].rstrip("\n"))
    return "\n".join(out) + "\n"


def cmd_add_trusted_cert(state: dict, args: list[str]) -> str:
    opts, files = parse(args, "de", "rpskio")
    if len(files) != 1:
        raise Failure("usage: add-trusted-cert [-d] [-r resultType] [-p policy] [-k keychain] "
                      "certFile", 2)
    cert = read_certificate(files[0])
    result = opts.get("r", ["trustRoot" if cert["subject"] == cert["issuer"]
                            else "trustAsRoot"])[-1]
    if result not in RESULT_TYPES:
        raise Failure(f"Unknown resultType ({result})", 2)
    for policy in opts.get("p", []):
        if policy not in POLICIES:
            raise Failure(f"Unknown policy spec ({policy})", 2)
    if result == "trustRoot" and cert["subject"] != cert["issuer"]:
        raise Failure("SecTrustSettingsSetTrustSettings: Parameter error: trustRoot is only "
                      "valid for self-signed certificates; use trustAsRoot")
    require_admin_authorization(state, bool(opts.get("d")))
    keychain = opts.get("k", [SYSTEM_KEYCHAIN])[-1]
    add_to_keychain(state, keychain, cert)
    state["trust"]["admin"][cert["sha1"]] = {
        "label": cert["label"], "result": RESULT_TYPES[result],
        "policies": opts.get("p", []), "strings": opts.get("s", [])}
    return ""


def cmd_remove_trusted_cert(state: dict, args: list[str]) -> str:
    opts, files = parse(args, "d", "")
    if len(files) != 1:
        raise Failure("usage: remove-trusted-cert [-d] certFile", 2)
    cert = read_certificate(files[0])
    require_admin_authorization(state, bool(opts.get("d")))
    if state["trust"]["admin"].pop(cert["sha1"], None) is None:
        raise Failure("SecTrustSettingsRemoveTrustSettings: The specified item could not be "
                      "found in the keychain.")
    return ""


def cmd_add_certificates(state: dict, args: list[str]) -> str:
    opts, files = parse(args, "", "k")
    keychain = opts.get("k", [SYSTEM_KEYCHAIN])[-1]
    for path in files:
        if not add_to_keychain(state, keychain, read_certificate(path)):
            raise Failure("security: SecCertificateAddToKeychain: The specified item already "
                          "exists in the keychain.")
    return ""


def cmd_delete_certificate(state: dict, args: list[str]) -> str:
    opts, keychains = parse(args, "t", "cZ")
    if "c" not in opts and "Z" not in opts:
        raise Failure("usage: delete-certificate [-c name] [-Z hash] [-t] [keychain...]", 2)
    keychains = keychains or sorted(state["keychains"])
    name, digest = opts.get("c", [None])[-1], opts.get("Z", [None])[-1]
    for keychain in keychains:
        entries = state["keychains"].get(keychain, [])
        for entry in entries:
            if (digest is None or digest.upper() in (entry["sha1"], entry["sha256"])) and \
                    (name is None or name in entry["label"]):
                entries.remove(entry)
                if opts.get("t"):
                    state["trust"]["user"].pop(entry["sha1"], None)
                return ""
    raise Failure(f"Unable to delete certificate matching \"{digest or name}\"")


def cmd_dump_trust_settings(state: dict, args: list[str]) -> str:
    opts, _ = parse(args, "ds", "")
    domain = "admin" if opts.get("d") else "user"
    settings = state["trust"][domain]
    if not settings:
        raise Failure("SecTrustSettingsCopyCertificates: No Trust Settings were found.")
    out = [f"Number of trusted certs = {len(settings)}"]
    for index, (_, entry) in enumerate(sorted(settings.items())):
        # one usage constraint per policy, each with the same result; none: one for all uses
        policies = entry["policies"] or [None]
        out += [f"Cert {index}: {entry['label']}",
                f"   Number of trust settings : {len(policies)}"]
        for number, policy in enumerate(policies):
            out += [f"   Trust Setting {number}:",
                    *([f"      Policy OID     : {POLICIES[policy]}"] if policy else []),
                    f"      Result Type    : {entry['result']}"]
    return "\n".join(out) + "\n"


def cmd_authorizationdb(state: dict, args: list[str]) -> str:
    if len(args) < 2 or args[0] not in ("read", "write"):
        raise Failure("usage: authorizationdb read <right-name> | write <right-name> [allow|deny"
                      "|<rulename>]", 2)
    verb, right = args[0], args[1]
    if verb == "read":
        rule = state["rights"].get(right, DEFAULT_RULES.get(right))
        if rule is None:
            raise Failure("NO (-60005)")
        sys.stderr.write("YES (0)\n")
        return plistlib.dumps(rule).decode()
    if os.geteuid() != 0:
        raise Failure("NO (-60005)")
    if len(args) > 2:
        rule = {"class": "rule", "rule": [args[2]]}
    else:
        try:
            rule = plistlib.loads(sys.stdin.buffer.read())
        except plistlib.InvalidFileException:
            raise Failure("NO (-60005)") from None
    state["rights"][right] = rule
    sys.stderr.write("YES (0)\n")
    return ""


COMMANDS = {
    "find-certificate": cmd_find_certificate,
    "add-trusted-cert": cmd_add_trusted_cert,
    "remove-trusted-cert": cmd_remove_trusted_cert,
    "add-certificates": cmd_add_certificates,
    "delete-certificate": cmd_delete_certificate,
    "dump-trust-settings": cmd_dump_trust_settings,
    "authorizationdb": cmd_authorizationdb,
}


def main(argv: list[str]) -> int:
    state = load_state()
    state["calls"].append(argv)
    code = 0
    if not argv or argv[0] not in COMMANDS:
        sys.stderr.write(f"security: unknown command {argv[:1]}\n")
        code = 2
    else:
        try:
            sys.stdout.write(COMMANDS[argv[0]](state, argv[1:]))
        except Failure as failure:
            sys.stderr.write(f"{failure}\n")
            code = failure.code
    save_state(state)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
