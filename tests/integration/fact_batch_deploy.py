"""Deploy file of test_fact_batch.py, run with --dry: every fact the TabPy and balancer deploys
read together, read by fact_batch and by pyinfra alone; one `FACT-BATCH {json}` line per
host."""

import json

from pyinfra import host, state
from pyinfra.api.facts import get_fact

from tabpy_provision.pool import deploy as pool_balancer
from tabpy_provision.run import fact_batch
from tabpy_provision.run.preflight import preflight
from tabpy_provision.server import deploy as tabpy_server
from tabpy_provision.server.release import build_release

checked = preflight(state)
wanted = []
if host.name in checked.plans:
    plan = checked.plans[host.name]
    venv = tabpy_server.venv_path(plan, checked.wheelhouses[host.name],
                                  checked.nltk_data[host.name])
    wanted += tabpy_server.facts_asked(plan, checked.platforms[host.name], venv,
                                       build_release(plan, venv).name)
if host.name in checked.balancers:
    wanted += pool_balancer.facts_asked(checked.balancers[host.name],
                                        checked.platforms[host.name])
fact_batch.read_together(host, wanted)
report = {"host": host.name, "count": len(wanted),
          "facts": sorted({fact.__name__ for fact, _ in wanted}),
          "unanswered": [], "differ": []}
for fact, arguments in wanted:
    batched = fact_batch.answered(host, fact, arguments)
    alone = get_fact(state, host, fact, kwargs=arguments)
    if batched is fact_batch.MISSING:
        report["unanswered"].append(f"{fact.__name__} {arguments}")
    elif batched != alone:
        report["differ"].append(f"{fact.__name__} {arguments}: {batched!r} != {alone!r}")
print("FACT-BATCH " + json.dumps(report), flush=True)
