"""The inventory groups this tool reads, named here only: an inventory file's group of the same
name puts its hosts in a role (settings.table.ROLES)."""

TABPY_SERVERS = "tabpy_servers"
#: The pool balancers (HAProxy and keepalived in front of the TabPy servers).
POOL = "tabpy_lb"
#: Analysts' machines that must trust TabPy's certificates.
CLIENTS = "clients"
TABLEAU = "tableau_servers"
#: Tableau Cloud sites: @local, the controller, speaks for them.
CLOUD = "tableau_cloud"
#: Rserve servers (R's analytics extension; a host may also be a TabPy server).
RSERVE_SERVERS = "rserve_servers"
