"""The jobs that change hosts, each a packaged pyinfra deploy file run on the site's inventory:
deploy, rotate, backup, restore, failover. `--dry` previews: exit 0 when nothing would change,
2 when something would (on a host or on the controller), 1 on an error or a refused input."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from tabpy_provision.cli import common

#: deploy's parts (packaged deploy files), the whole site first.
DEPLOY_PARTS = {
    "site": "the whole site, in order: TabPy servers, the pool's balancers, Rserve servers, "
            "trust on clients and Tableau nodes, Tableau's connection",
    "tabpy": "TabPy servers only (balancers are told to trust the CAs the servers move to)",
    "balancer": "the pool's balancers only (HAProxy, keepalived)",
    "rserve": "Rserve servers only (QAP over TLS, logins checked by a function of ours)",
    "trust": "clients and Tableau nodes trust the servers' CAs; Windows and macOS artifacts",
    "tableau": "Tableau Server's and Tableau Cloud's connection to TabPy, where it differs",
}
#: The schema name of `--dry --json` (docs/cli.md).
PLAN_SCHEMA = "tabpy-provision/plan/1"


def register(sub: argparse._SubParsersAction) -> None:
    deploy = _job(sub, "deploy", "deploy the site (or one part of it)", _deploy)
    deploy.add_argument("part", nargs="?", default="site", choices=sorted(DEPLOY_PARTS),
                        help="; ".join(f"{k}: {v}" for k, v in DEPLOY_PARTS.items()))
    deploy.add_argument("--acme-renew", metavar="NAMES",
                        help="order new ACME certificates now: all, or names (a.example.com,...)")
    deploy.add_argument("--new-identity", action="store_true",
                        help="give hosts that serve another CA, or hold users this controller "
                             "has no password for, a new CA and new passwords")
    rotate = _job(sub, "rotate", "rotate generated TabPy passwords everywhere, in one run",
                  lambda args: _run(args, "rotate", {"rotate_users": args.users}))
    rotate.add_argument("--users", metavar="A,B", help="only these users (default: every "
                        "generated one)")
    backup = _job(sub, "backup", "encrypted backup of every TabPy server's release files and "
                  "models", _backup)
    backup.add_argument("--log", type=Path, metavar="FILE",
                        help="for cron or a timer: the run's output goes to FILE; silent when "
                             "every host was backed up, else one line naming hosts and reasons")
    restore = _job(sub, "restore", "restore TabPy servers from their backups (verified before "
                   "any host is touched)", lambda args: _run(args, "restore", _restore_data(args)))
    _restore_options(restore)
    failover = _job(sub, "failover", "fail over to this (DR) inventory: newest backup of the "
                    "lost host restored, site deployed, RTO printed",
                    lambda args: _run(args, "failover", _restore_data(args)))
    _restore_options(failover, required=True)


def _job(sub, name: str, text: str, run: Callable) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
    common.add_inventory(parser)
    parser.add_argument("--dry", action="store_true",
                        help="preview only: change nothing anywhere; exit 2 when something "
                             "would change, 0 when nothing would")
    common.add_json(parser, "the preview (with --dry)")
    parser.add_argument("--limit", action="append", default=[], metavar="HOST",
                        help="only this host or group (repeat)")
    parser.set_defaults(func=run)
    return parser


def _restore_options(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--from", dest="restore_from", required=required, metavar="HOST",
                        help="the host whose backup is restored (default: each host's own)")
    parser.add_argument("--environment", dest="restore_environment", metavar="ENV",
                        help="the environment the backup was filed under")
    parser.add_argument("--archive", dest="restore_archive", metavar="PATH",
                        help="one archive instead of the newest")


def _restore_data(args: argparse.Namespace) -> dict[str, str]:
    return {key: getattr(args, key) for key in
            ("restore_from", "restore_environment", "restore_archive") if getattr(args, key)}


def _deploy(args: argparse.Namespace) -> int:
    data = {"acme_renew": args.acme_renew} if args.acme_renew else {}
    if args.new_identity:
        data["new_identity"] = "true"
    return _run(args, args.part, data)


def _checked_inventory(args: argparse.Namespace) -> str:
    """The inventory's path, once its unknown keys are refused (before pyinfra connects; the
    run checks the values with its plans)."""
    common.load_state(args, values_checked_by_the_run=True)
    return common.inventory_path(args)


def _run(args: argparse.Namespace, deploy: str, data: dict) -> int:
    if args.json and not args.dry:
        raise common.Refused(["--json: only with --dry (a preview); a run's log is for eyes"])
    inventory = _checked_inventory(args)
    data = {key: value for key, value in data.items() if value}
    done = common.run_deploy(inventory, deploy, dry=args.dry, limit=args.limit, data=data)
    if not args.dry:
        for line in failure_lines(done):
            print(line, file=sys.stderr)
        return common.OK if done.returncode == 0 else common.ERROR
    if done.returncode != 0 or not done.payload:
        return common.ERROR
    plan = preview(done)
    if args.json:
        common.print_json(plan)
    else:
        print(preview_text(plan))
    return common.CHANGES if plan["changes_pending"] else common.OK


def preview(done: common.RunResult) -> dict:
    """What a dry run would change: per host, each operation (changes certain, or conditional
    on an earlier one's), and the controller's own writes."""
    hosts: dict[str, list[dict[str, str]]] = {}
    for operation in done.payload.get("plan", []):
        for kind, key in (("change", "hosts_with_change"),
                          ("conditional", "hosts_with_conditional_change")):
            for host in operation[key]:
                hosts.setdefault(host, []).append({"operation": operation["name"],
                                                   "would": kind})
    controller = done.report["controller"]
    certain = any(step["would"] == "change" for steps in hosts.values() for step in steps)
    return {"schema": PLAN_SCHEMA, "changes_pending": certain or bool(controller),
            "hosts": hosts, "controller": controller}


def preview_text(plan: dict) -> str:
    """The preview for eyes: certain changes; operations that would change only if an earlier
    one does are counted, not listed (`--json` lists them)."""
    lines = [f"[controller] would {what}" for what in plan["controller"]]
    conditional = 0
    for host, steps in sorted(plan["hosts"].items()):
        lines += [f"[{host}] would change: {step['operation']}" for step in steps
                  if step["would"] == "change"]
        conditional += sum(step["would"] == "conditional" for step in steps)
    if plan["changes_pending"]:
        lines.append("changes pending" + (f" (and {conditional} operation(s) that change only "
                                          "if an earlier one does)" if conditional else ""))
    else:
        lines.append("nothing would change")
    return "\n".join(lines)


def failure_lines(done: common.RunResult) -> list[str]:
    """`host: why` for each host that failed (the run's own reasons, not its printed log)."""
    failed = (done.payload.get("results") or {}).get("failed_hosts", [])
    reasons = done.report["failures"]
    return [f"{host}: {reasons.get(host, 'unreachable (could not connect)')}" for host in failed]


def _backup(args: argparse.Namespace) -> int:
    if args.log is None or args.dry:
        return _run(args, "backup", {})
    inventory = _checked_inventory(args)
    with args.log.open("w") as log:
        done = common.run_deploy(inventory, "backup", dry=False, limit=args.limit, log=log)
    if done.returncode == 0:
        return common.OK
    why = "; ".join(failure_lines(done)) or "the run stopped before any host (see the log)"
    print(f"tabpy backup failed: {why} (log: {args.log})")
    return common.ERROR
