"""Plan as a real run does: stage the controller's changes, then apply them (the next plan
reuses what this one created)."""

from tabpy_provision.controller.files import Staged
from tabpy_provision.pool.balancer import plan_balancer
from tabpy_provision.server.plan import plan_tabpy_server


def planned(host, data, **options):
    files = Staged()
    plan = plan_tabpy_server(host, data, files=files, **options)
    files.apply()
    return plan


def planned_balancer(host, data, backends, addresses, **options):
    files = Staged()
    plan = plan_balancer(host, data, backends, addresses, files=files, **options)
    files.apply()
    return plan
