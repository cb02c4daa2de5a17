"""What the TabPy processes behind one name serve, compared. A balancer (a host's own, or a
pool's) sends each request to one of its processes, so an endpoint that some of them lack, or
serve at another version, answers differently from one request to the next: a function
deployed with TabPy's client on one process only is the usual cause.

Each process's `GET /endpoints` (name -> {"version", "type", "description", ...}) is compared
by what it serves. An endpoint someone else deployed: by its version and type. One this deploy
published: by its digest among the processes of one host, which share a virtualenv; across
hosts only by being there, since the digest covers the virtualenv (another Python or TabPy
makes another digest for the same file; site_check's function rows prove its examples on every
process). Its version is not compared: a process added later holds the same content at
version 1 while the others count higher. Pure: no pyinfra import, no network.
"""

from __future__ import annotations

from collections.abc import Mapping

from tabpy_provision.functions.source import published_digest

ABSENT = "absent"
OURS = "published by tabpy-provision"


def served_as(details: Mapping) -> str:
    """What a process serves under one endpoint name, as a difference names it."""
    digest = published_digest(details.get("description"))
    if digest:
        return f"tabpy-provision digest {digest}"
    kind = details.get("type")
    return f"version {details.get('version')}" + \
        (f" ({kind})" if kind not in (None, "model") else "")


def _across_hosts(details: Mapping | None) -> str:
    if details is None:
        return ABSENT
    return OURS if published_digest(details.get("description")) else served_as(details)


def differences(served: Mapping[str, Mapping[str, Mapping]],
                hosts: Mapping[str, str]) -> list[str]:
    """One line per endpoint the processes do not serve alike, naming what each serves
    (`served`: by process label, its GET /endpoints; `hosts`: each label's host), e.g.
    "'double': version 1 on tabpy1:9004; absent on tabpy2:9004". Processes are named in the
    order given, endpoint names sorted; none when they serve alike."""
    lines = []
    for name in sorted({name for endpoints in served.values() for name in endpoints}):
        found = {label: endpoints.get(name) for label, endpoints in served.items()}
        digests: dict[str, set[str | None]] = {}
        for label, details in found.items():
            if _across_hosts(details) == OURS:
                digests.setdefault(hosts.get(label, label), set()).add(
                    published_digest(details.get("description")))
        if len({_across_hosts(details) for details in found.values()}) == 1 and \
                all(len(seen) == 1 for seen in digests.values()):
            continue
        groups: dict[str, list[str]] = {}
        for label, details in found.items():
            groups.setdefault(ABSENT if details is None else served_as(details), []).append(label)
        absent = groups.pop(ABSENT, [])
        parts = [f"{what} on {', '.join(labels)}" for what, labels in groups.items()]
        parts += [f"{ABSENT} on {', '.join(absent)}"] if absent else []
        lines.append(f"{name!r}: {'; '.join(parts)}")
    return lines


def endpoints_problem(answer: object) -> str | None:
    """Why a decoded GET /endpoints answer is not name -> details, or None."""
    if not isinstance(answer, dict):
        return f"not a JSON object: {str(answer)[:100]}"
    odd = next((name for name, details in answer.items() if not isinstance(details, dict)),
               None)
    return None if odd is None else f"{odd!r} has no details: {str(answer[odd])[:100]}"
