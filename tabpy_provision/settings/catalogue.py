"""The one list of tabpy-provision's settings: each one's name, role, default, one line of
meaning and its check, and the roles that group them. Read through settings/table.py (the
refusal of unknown keys, the checks, the typed objects and docs/settings.md come from
here). Pure."""

from __future__ import annotations

from tabpy_provision.firewall.outbound import destinations_problem
from tabpy_provision.firewall.rules import sources_problem
from tabpy_provision.server.limits import memory_problem
from tabpy_provision.server.tls_profile import PROFILES, VERSIONS
from tabpy_provision.settings.groups import (
    CLIENTS,
    CLOUD,
    POOL,
    RSERVE_SERVERS,
    TABLEAU,
    TABPY_SERVERS,
)
from tabpy_provision.settings.model import Role, Setting, in_role
from tabpy_provision.settings.value_checks import (
    TRUST_OS_FAMILIES,
    absolute_path,
    acme_directory,
    cloud_sites,
    command,
    dns_name_problem,
    dns_names,
    given_secret,
    https_address,
    https_url,
    instance_count,
    int_between,
    interface_name,
    ip_address,
    ip_addresses,
    is_bool,
    leaf_days,
    mapping,
    nltk_resources,
    non_empty_text,
    oauth_scope,
    one_of,
    optional,
    permitted_names,
    prebuilt_model_list,
    requirement_list,
    seconds_up_to,
    site_content_url,
    site_list,
    tableau_version,
    text_list,
    trust_selection,
    unix_name,
    version,
)

ROLES: tuple[Role, ...] = (
    Role("tabpy", "TabPy server", (TABPY_SERVERS,)),
    Role("certificates", "Certificates (private CA or supplied)",
         (TABPY_SERVERS, POOL, RSERVE_SERVERS)),
    Role("secrets", "Secrets and checks", (TABPY_SERVERS, POOL, TABLEAU, RSERVE_SERVERS)),
    Role("pool", "Pool balancer (and a host's own HAProxy)", (POOL, TABPY_SERVERS)),
    Role("network", "The fence: who reaches TabPy (and Rserve), what they reach and use",
         (TABPY_SERVERS, RSERVE_SERVERS)),
    Role("analytics", "What the analysts' scripts get: libraries, data, models, functions",
         (TABPY_SERVERS,)),
    Role("rserve", "Rserve server (R's analytics extension; docs/rserve.md)", (RSERVE_SERVERS,)),
    Role("access", "Reaching the host as root (directly or through sudo)", None),
    Role("backup", "Backups and the environment", None),
    Role("trust", "Client trust", (CLIENTS, TABLEAU)),
    Role("tableau", "Tableau Server node (and, where it says so, a Tableau Cloud site)",
         (TABLEAU, CLOUD)),
    Role("cloud", "Tableau Cloud (group tableau_cloud: @local, the controller)", (CLOUD,)),
)


# --- the settings ---------------------------------------------------------------------------------

SETTINGS: tuple[Setting, ...] = (
    *in_role(
        "tabpy",
        Setting("tabpy_version",
                "2.16.0", "TabPy release to install (a lock file must exist for it).", version),
        Setting("tabpy_fqdn", None,
                "Name Tableau uses for this host; default: the inventory host name.",
                optional(dns_name_problem)),
        Setting("tabpy_connect_address", None,
                "Address the controller dials for the health check; default: ssh_hostname, "
                "else tabpy_fqdn.", optional(non_empty_text)),
        Setting("tabpy_system_user",
                "tabpy", "System user and group TabPy runs as (no login shell).", unix_name),
        Setting("tabpy_service_name", "tabpy", "systemd unit name.", unix_name),
        Setting("tabpy_install_dir", "/opt/tabpy",
                "Versioned virtualenvs live here; `current` links to the active one.",
                absolute_path),
        Setting("tabpy_releases_to_keep", 2,
                "Releases (config, users, TLS, venv) kept, the active and previous included; "
                "unused virtualenvs are removed.", int_between(2, 20)),
        Setting("tabpy_rolling_batch", 1,
                "TabPy hosts restarted at once (each batch verified before the next); set per "
                "group.", int_between(1, 1000)),
        Setting("tabpy_instances", 1,
                "TabPy processes on this host: a number or `auto` (one per CPU). Above 1, the "
                "host's HAProxy serves tabpy_port and spreads requests over them.",
                instance_count),
        Setting("tabpy_instance_ports_start", 9101,
                "Port of the first TabPy process when tabpy_instances is above 1 (one port each, "
                "counting up; units tabpy@PORT).", int_between(1024, 65000)),
        Setting("tabpy_config_dir", "/etc/tabpy",
                "Config, password file and TLS files (root:tabpy 0750).", absolute_path),
        Setting("tabpy_log_dir", "/var/log/tabpy", "TabPy's own log files.", absolute_path),
        Setting("tabpy_log_level", "INFO", "Level of TabPy's log (journal and file).",
                one_of("DEBUG", "INFO", "WARNING", "ERROR")),
        Setting("tabpy_log_max_bytes", 10_000_000, "Size at which tabpy.log rotates.",
                int_between(100_000, 1_000_000_000)),
        Setting("tabpy_log_backups", 5, "Rotated log files kept.", int_between(0, 100)),
        Setting("tabpy_port", 9004, "TABPY_PORT: HTTPS port (binds every interface).",
                int_between(1, 65535)),
        Setting("tabpy_transfer_protocol", "https", "TABPY_TRANSFER_PROTOCOL: https or http.",
                one_of("https", "http")),
        Setting("tabpy_minimum_tls_version", "TLSv1_2",
                "TABPY_MINIMUM_TLS_VERSION: oldest TLS version TabPy and the host's HAProxy "
                "accept; a pool accepts its servers' highest (docs/tls.md).", one_of(*VERSIONS)),
        Setting("tabpy_tls_profile", "intermediate",
                "Their ciphers, Mozilla's profiles (a pool: its servers' strictest): intermediate "
                "(TLS 1.2 ECDHE with AES-GCM or ChaCha20 only; TLS 1.3) or modern (TLS 1.3 "
                "only).", one_of(*PROFILES)),
        Setting("tabpy_auth_enabled", True,
                "Basic auth on (sets TABPY_PWD_FILE); off needs tabpy_allow_no_auth.", is_bool),
        Setting("tabpy_allow_no_auth", False,
                "Explicitly allow a server without authentication.", is_bool),
        Setting("tabpy_users", {},
                "TabPy users: name -> secret reference (env:VAR, file:/path, cmd:..., generate).",
                mapping),
        Setting("tabpy_state_path", "/var/lib/tabpy/state",
                "TABPY_STATE_PATH: state.ini and the deployed models (query_objects/).",
                absolute_path),
        Setting("tabpy_query_object_path", "/var/lib/tabpy/query_objects",
                "TABPY_QUERY_OBJECT_PATH: created by TabPy (2.16 keeps models in the state path).",
                absolute_path),
        Setting("tabpy_static_path", None,
                "TABPY_STATIC_PATH: landing page folder; default: TabPy's own.",
                optional(absolute_path)),
        Setting("tabpy_log_details", False,
                "TABPY_LOG_DETAILS: log caller, URL and scripts of each request.", is_bool),
        Setting("tabpy_max_request_size_mb", 100,
                "TABPY_MAX_REQUEST_SIZE_MB: largest request body.", int_between(1, 10_000)),
        Setting("tabpy_evaluate_enable", True,
                "TABPY_EVALUATE_ENABLE: false makes /evaluate 404 (deployed models only).",
                is_bool),
        Setting("tabpy_evaluate_timeout", 30,
                "TABPY_EVALUATE_TIMEOUT: seconds a script may run (then HTTP 408).",
                seconds_up_to(86400)),
        Setting("tabpy_gzip_enable", True, "TABPY_GZIP_ENABLE: accept gzipped requests (TabPy "
                "2.16 gzips responses anyway; BREACH: docs/tls.md).", is_bool),
        Setting("tabpy_arrow_enable", False,
                "TABPY_ARROW_ENABLE: Arrow Flight server (binds 0.0.0.0).", is_bool),
        Setting("tabpy_arrowflight_port", 13622, "TABPY_ARROWFLIGHT_PORT.", int_between(1, 65535)),
        Setting("tabpy_oauth_enabled", False, "TABPY_OAUTH_ENABLED: accept JWT bearer tokens.",
                is_bool),
        Setting("tabpy_oauth_issuer", None,
                "TABPY_OAUTH_ISSUER: expected `iss` claim (an https URL).",
                optional(https_address)),
        Setting("tabpy_oauth_jwks_uri", None, "TABPY_OAUTH_JWKS_URI: https URL of the IdP's keys.",
                optional(https_address)),
        Setting("tabpy_oauth_allow_nonpublic_jwks", False,
                "TABPY_OAUTH_ALLOW_NONPUBLIC_JWKS: JWKS host may resolve to a private address.",
                is_bool),
        Setting("tabpy_oauth_audience", None, "TABPY_OAUTH_AUDIENCE: expected `aud` claim.",
                optional(non_empty_text)),
        Setting("tabpy_oauth_required_scopes", None,
                "TABPY_OAUTH_REQUIRED_SCOPES: comma-separated scopes every request needs.",
                optional(non_empty_text)),
        Setting("tabpy_oauth_enforce_endpoint_scopes", False,
                "TABPY_OAUTH_ENFORCE_ENDPOINT_SCOPES: per-endpoint scopes below.", is_bool),
        Setting("tabpy_oauth_query_scope", "tabpy:query", "TABPY_OAUTH_QUERY_SCOPE.", oauth_scope),
        Setting("tabpy_oauth_evaluate_scope", "tabpy:evaluate", "TABPY_OAUTH_EVALUATE_SCOPE.",
                oauth_scope),
        Setting("tabpy_oauth_deploy_scope", "tabpy:deploy", "TABPY_OAUTH_DEPLOY_SCOPE.",
                oauth_scope),
        Setting("tabpy_oauth_log_user", False, "TABPY_OAUTH_LOG_USER: log the JWT subject.",
                is_bool),
    ),
    *in_role(
        "network",
        Setting("tabpy_firewall", True,
                "Fence TabPy's and Rserve's ports with nftables (table inet tabpy_provision): "
                "only the host, the controller, the pool balancers in front and "
                "tabpy_allowed_sources (rserve_allowed_sources) reach them; false removes the "
                "table.", is_bool),
        Setting("tabpy_allowed_sources", None,
                "Who else may reach tabpy_port (and Arrow Flight's): addresses, networks, "
                "inventory hosts, @group; default: @tableau_servers and @clients, or nobody else "
                "with a pool in front.", optional(sources_problem)),
        Setting("tabpy_outbound_allowed", [],
                "Where TabPy's processes (the analysts' scripts) may connect besides loopback "
                "and their clients: ADDRESS[:PORT][/udp] items; OAuth's hosts are added.",
                destinations_problem),
        Setting("tabpy_fence_allow_everyone", False, "Let tabpy_allowed_sources and "
                "tabpy_outbound_allowed cover everyone (0.0.0.0/0, ::/0), warned at each run.",
                is_bool),
        Setting("tabpy_memory_max", "auto",
                "Memory of one TabPy process: a size (2G, 512M), a share of the host (50%, "
                "split over its processes) or auto (75%); past it a script's allocation fails.",
                memory_problem),
        Setting("tabpy_tasks_max", 512,
                "Processes and threads of one TabPy process (a fork bomb stops here).",
                int_between(32, 100_000)),
        Setting("tabpy_cpu_weight", 100,
                "TabPy's CPU share under contention (systemd CPUWeight; 100 is every "
                "service's default).", int_between(1, 10_000)),
    ),
    *in_role(
        "analytics",
        Setting("tabpy_requirements", [],
                "Extra Python requirements for TabPy's virtualenv (statsmodels==0.14.5): "
                "resolved with TabPy's pins into a lock in tabpy_locks_dir, installed offline.",
                requirement_list),
        Setting("tabpy_locks_dir", "locks",
                "Controller folder (in your repository) of the locks of tabpy_requirements.",
                non_empty_text),
        Setting("tabpy_nltk_data", [],
                "NLTK data shipped with the wheelhouse from a registry package (vader_lexicon); "
                "TabPy's processes find it (NLTK_DATA), a host never downloads it.",
                nltk_resources),
        Setting("tabpy_nltk_data_dir", None,
                "Controller folder laid out like nltk_data (tokenizers/, corpora/, ...) shipped "
                "as is, for data no registry package carries.", optional(non_empty_text)),
        Setting("tabpy_prebuilt_models", [],
                "TabPy's pre-built models to publish on every process, offline: anova, ttest, "
                "PCA, Sentiment Analysis.", prebuilt_model_list),
        Setting("tabpy_functions_dir", None,
                "Controller folder of function files (NAME.py: def NAME with doctest examples), "
                "each published on every TabPy process.", optional(non_empty_text)),
    ),
    *in_role(
        "certificates",
        Setting("tabpy_certificate_file", None,
                "Controller path of a PEM chain (leaf first) to serve; default: issue from the "
                "private CA.", optional(non_empty_text)),
        Setting("tabpy_key_file", None,
                "Controller path of the PEM key for tabpy_certificate_file.",
                optional(non_empty_text)),
        Setting("tabpy_cert_dns_aliases", [],
                "Extra DNS names in the issued certificate (e.g. a service alias).", dns_names),
        Setting("tabpy_cert_ip_addresses", [], "IP addresses in the issued certificate.",
                ip_addresses),
        Setting("pki_dir", "pki",
                "Controller folder of the private CA and issued keys (0700, git-ignored); "
                "relative to the project.", non_empty_text),
        Setting("pki_common_name", None, "Name in the private CA's subjects (default: "
                "`tabpy-provision ENVIRONMENT`, e.g. `tabpy-provision production Root CA`); "
                "read only when a CA is created: an existing CA keeps its name.",
                optional(non_empty_text)),
        Setting("pki_permitted_names", [], "DNS domains and IP networks a new private CA may "
                "issue for besides the domains of the names of every host using its pki_dir "
                "(docs/certificates.md).", permitted_names),
        Setting("pki_leaf_days", 397, "Validity of issued TabPy certificates (at most 825: "
                "macOS and iOS refuse longer).", leaf_days),
        Setting("pki_renew_before_days", 30,
                "Reissue a certificate this many days before it expires.", int_between(1, 3649)),
        Setting("tabpy_key_passphrase", None,
                "Secret reference (env:, file:, cmd:, vault:) of the passphrase of tabpy_key_file; "
                "the deploy installs the key decrypted (0600): TabPy has no passphrase option.",
                optional(given_secret("a passphrase"))),
        Setting("tabpy_ca_file", None,
                "Controller path of the CA certificate(s) (PEM, DER) that tabpy_certificate_file, "
                "or the ACME CA's chains, lead to: checked, trusted by the health check and the "
                "report, given to clients; default: the chain's own root, else the "
                "controller's OS trust store.", optional(non_empty_text)),
        Setting("acme_directory_url", None,
                "ACME directory to order the certificate from (Let's Encrypt, step-ca, Vault "
                "PKI, ...) instead of the private CA; reused while valid, renewed in the window.",
                optional(acme_directory)),
        Setting("acme_challenge", "dns-01",
                "How the ACME CA checks the names: dns-01 (a TXT record, by acme_dns_hook) or "
                "http-01 (port 80 of each name, served by the hosts during the order).",
                one_of("dns-01", "http-01")),
        Setting("acme_dns_hook", None,
                "Command (list of arguments) the controller runs to publish (ACME_ACTION="
                "present) and remove (cleanup) each DNS-01 TXT record: ACME_TXT_NAME, "
                "ACME_TXT_VALUE.", optional(command)),
        Setting("acme_email", None, "Contact address of the ACME account (expiry notices).",
                optional(non_empty_text)),
        Setting("acme_server_ca_file", None,
                "Controller path of the CA that signs the ACME server's own HTTPS certificate; "
                "default: the controller's OS trust store.", optional(non_empty_text)),
        Setting("acme_timeout", 120, "Seconds one ACME order may take, challenges included.",
                seconds_up_to(3600)),
        Setting("trust_artifacts_dir", "trust-artifacts",
                "On TabPy servers: controller folder where the trust deploy writes the Windows "
                "(.cer, PowerShell) and macOS (.mobileconfig) artifacts of their CAs; relative to "
                "the project.", non_empty_text),
    ),
    *in_role(
        "rserve",
        Setting("rserve_fqdn", None,
                "Name Tableau uses for this Rserve; default: the inventory host name.",
                optional(dns_name_problem)),
        Setting("rserve_connect_address", None,
                "Address the controller dials for its checks; default: ssh_hostname, else "
                "rserve_fqdn.", optional(non_empty_text)),
        Setting("rserve_port", 6311,
                "Port of QAP over TLS (qap.tls.port), every interface; Rserve listens on no "
                "other.", int_between(1, 65535)),
        Setting("rserve_users", {},
                "Rserve users: name -> secret reference (env:VAR, file:/path, cmd:..., generate).",
                mapping),
        Setting("rserve_check_user", None,
                "User the post-deploy check logs in as; default: the first of rserve_users.",
                optional(non_empty_text)),
        Setting("rserve_system_user", "rserve",
                "System user and group Rserve and its R sessions run as (no login shell).",
                unix_name),
        Setting("rserve_service_name", "rserve", "systemd unit name.", unix_name),
        Setting("rserve_config_dir", "/etc/rserve",
                "Releases of Rserv.conf, the users file, the login function and TLS files "
                "(root:rserve 0750).", absolute_path),
        Setting("rserve_workdir", "/var/lib/rserve",
                "Working folder of the R sessions: the only folder Rserve may write.",
                absolute_path),
        Setting("rserve_releases_to_keep", 2,
                "Releases kept, the active and previous included.", int_between(2, 20)),
        Setting("rserve_allowed_sources", None,
                "Who else may reach rserve_port (the fence: tabpy_firewall): addresses, "
                "networks, inventory hosts, @group; default: @tableau_servers and @clients.",
                optional(sources_problem)),
        Setting("rserve_outbound_allowed", [],
                "Where Rserve's R sessions may connect besides loopback and their clients: "
                "ADDRESS[:PORT][/udp] items.", destinations_problem),
    ),
    *in_role(
        "secrets",
        Setting("secrets_dir", "secrets",
                "Controller folder of generated passwords (0700, git-ignored); relative to the "
                "project.", non_empty_text),
        Setting("secrets_vault_path", None,
                "Vault KV v2 MOUNT/PATH keeping generated passwords instead of secrets_dir "
                "(needs hvac, VAULT_ADDR, VAULT_TOKEN).", optional(non_empty_text)),
        Setting("allow_plaintext_secrets", False,
                "Accept a literal password in inventory (the lab only).", is_bool),
        Setting("tabpy_health_check_user", None,
                "User the post-deploy check signs in as; default: the first of tabpy_users.",
                optional(non_empty_text)),
        Setting("tabpy_health_check_timeout", 90,
                "Seconds the post-deploy check waits for TabPy to answer.", seconds_up_to(3600)),
    ),
    *in_role(
        "pool",
        Setting("lb_service_name", None,
                "tabpy_lb hosts: the name Tableau uses for the pool (DNS points it at the "
                "balancer); the balancer's certificate is issued for it.",
                optional(dns_name_problem)),
        Setting("lb_port", 9004, "tabpy_lb hosts: port the balancer serves the pool on.",
                int_between(1, 65535)),
        Setting("lb_backend_group", TABPY_SERVERS,
                "tabpy_lb hosts: inventory group whose TabPy processes form the pool.",
                unix_name),
        Setting("lb_monitor_user", None,
                "User HAProxy's health checks sign in as (GET /info); must be in every backend's "
                "tabpy_users; default: tabpy_health_check_user, else the first user.",
                optional(non_empty_text)),
        Setting("lb_check_interval_ms", 1000,
                "Milliseconds between HAProxy's health checks of each TabPy process.",
                int_between(100, 60_000)),
        Setting("lb_check_fall", 2, "Failed checks that take a TabPy process out of the pool.",
                int_between(1, 10)),
        Setting("lb_check_rise", 2, "Passed checks that put a TabPy process back.",
                int_between(1, 10)),
        Setting("lb_drain_timeout", 60,
                "Seconds a drained TabPy process gets to finish its requests before a restart.",
                seconds_up_to(3600)),
        Setting("lb_virtual_address", None,
                "tabpy_lb hosts: an address keepalived (VRRP) keeps on one balancer whose HAProxy "
                "runs (first the group's first host; it moves only when its holder fails); "
                "lb_service_name points at it. Unset: no keepalived.", optional(ip_address)),
        Setting("lb_vrrp_router_id", 51,
                "tabpy_lb hosts: VRRP router id of the pool, unique on the network (1-255).",
                int_between(1, 255)),
        Setting("lb_vrrp_interface", None,
                "tabpy_lb hosts: interface that carries lb_virtual_address; default: the one on "
                "its network.", optional(interface_name)),
    ),
    *in_role(
        "access",
        Setting("sudo_password", None,
                "Secret reference (env:, file:, cmd:, vault:) of the sudo password of the user "
                "the deploy signs in as (ssh_user, with _sudo), when its sudo asks for one; "
                "given to sudo on stdin, never on a command line.",
                optional(given_secret("a sudo password"))),
    ),
    *in_role(
        "backup",
        Setting("environment", "default",
                "Name of this inventory's environment (e.g. production); backups are filed under "
                "it.", unix_name),
        Setting("backup_dir", "backups",
                "Controller folder of encrypted backups (0700, git-ignored); relative to the "
                "project.", non_empty_text),
        Setting("backup_key", None,
                "Secret reference of the passphrase that encrypts backups (required to back up or "
                "restore); keep it outside this controller too.", optional(non_empty_text)),
        Setting("controller_state_key", None,
                "Secret reference (env:, file:, cmd:, vault:) of the passphrase that encrypts the "
                "controller's state backups (tabpy-provision state); keep "
                "it off the controller.", optional(given_secret("a passphrase"))),
        Setting("backup_keep", 7, "Backups kept per host (older ones removed).",
                int_between(1, 1000)),
        Setting("backup_max_bytes", 2 << 30,
                "Largest snapshot a backup takes, in bytes of its tar (sparse files count "
                "their data): a larger state stops the backup, found on the host before the "
                "snapshot is written.", int_between(1 << 20, 1 << 40)),
    ),
    *in_role(
        "trust",
        Setting("trust_ca_certificates", ["root"],
                "On clients and Tableau nodes: which CA certificates of the TabPy servers go into "
                "the OS trust store: `[root]` or `[root, intermediate]`.", trust_selection),
        Setting("trust_os_family", None,
                "On clients and Tableau nodes: trust store to manage (debian, rhel, suse, macos); "
                "default: detected from the host's facts.", optional(one_of(*TRUST_OS_FAMILIES))),
    ),
    *in_role(
        "tableau",
        Setting("tableau_version", None,
                "On Tableau Server nodes: the version, which picks how the connection is set: "
                "2018.2-2018.3 `tsm configuration`, 2019.1-2020.1 `tsm security vizql-extsvc-ssl`, "
                "2020.2+ REST API; default: read from the installed tsm (customer-bin.<version>).",
                optional(tableau_version)),
        Setting("tableau_tabpy_host", None,
                "The TabPy name Tableau connects to: a TabPy server's tabpy_fqdn or alias, or a "
                "balancer name the TabPy certificates cover; unset: the connection is not managed "
                "(trust only).", optional(dns_name_problem)),
        Setting("tableau_tabpy_port", None,
                "Port Tableau connects to; default: the pool's lb_port when tableau_tabpy_host is "
                "a balancer's lb_service_name, else the TabPy servers' tabpy_port.",
                optional(int_between(1, 65535))),
        Setting("tableau_tabpy_ssl", True,
                "Tableau's \"Require SSL\" (must match the TabPy servers' protocol).", is_bool),
        Setting("tableau_tabpy_user", None,
                "TabPy user Tableau signs in as (one of the TabPy servers' tabpy_users: the "
                "password comes from the same secret reference); required when TabPy uses "
                "authentication.", optional(non_empty_text)),
        Setting("tableau_connect_timeout_ms", None,
                "tsm versions: vizqlserver.extsvc.connect_timeout_ms; default: Tableau's own.",
                optional(int_between(1, 3_600_000))),
        Setting("tableau_connection_name", "TabPy",
                "REST: name of the TABPY connection on each site (existing ones matched by name).",
                non_empty_text),
        Setting("tableau_tsm_run_as", None,
                "tsm: run tsm as this local member of the TSM-authorized group (tsmadmin); no "
                "login needed.", optional(unix_name)),
        Setting("tableau_tsm_login_user", None,
                "tsm: else `tsm login` as this TSM administrator first.",
                optional(non_empty_text)),
        Setting("tableau_tsm_login_password", None,
                "tsm: secret reference (env:, file:, cmd:, vault:) of tableau_tsm_login_user's "
                "password.", optional(given_secret("a password"))),
        Setting("tableau_restart_on_trust_change", False,
                "Run `tsm restart` when the node's trust store changed; else the run only says "
                "that Tableau must restart to pick it up.", is_bool),
        Setting("tableau_rest_url", None,
                "REST (2020.2+): Tableau Server's https URL; default: https://<inventory host>.",
                optional(https_url)),
        Setting("tableau_rest_connect_address", None,
                "REST: address the controller dials for tableau_rest_url; default: the host's "
                "ssh_hostname when the URL names this host, else the URL's host.",
                optional(non_empty_text)),
        Setting("tableau_rest_ca_file", None,
                "REST: controller path of the CA bundle (PEM) that verifies Tableau Server's own "
                "certificate; default: the controller's OS trust store.",
                optional(non_empty_text)),
        Setting("tableau_rest_token_name", None,
                "REST: name of a server administrator's personal access token.",
                optional(non_empty_text)),
        Setting("tableau_rest_token_secret", None,
                "REST: secret reference (env:, file:, cmd:, vault:) of the token's secret.",
                optional(given_secret("a token"))),
        Setting("tableau_rest_token_site", None,
                "REST: contentUrl of the site the token belongs to; default: the Default site.",
                optional(site_content_url)),
        Setting("tableau_rest_sites", None,
                "REST: sites (contentUrl) that get analytics extensions enabled and the "
                "connection; default: the Default site only.", optional(site_list)),
        Setting("tableau_rest_absent_connections", [],
                "REST: connection names to remove from those sites (e.g. an old TabPy).",
                text_list),
    ),
    *in_role(
        "cloud",
        Setting("tableau_cloud_url", None,
                "The pod URL of the Tableau Cloud sites (https://<pod>.online.tableau.com); "
                "with tableau_tabpy_host, tableau_tabpy_user, tableau_connection_name.",
                optional(https_url)),
        Setting("tableau_cloud_sites", {},
                "Each site's contentUrl -> {token_name, token_secret}: a site administrator's "
                "personal access token (secret reference), which signs in to its own site only.",
                cloud_sites),
        Setting("tableau_cloud_public_roots", None,
                "Controller path of the roots Tableau Cloud trusts, which TabPy's chain must "
                "verify against; default: the controller's OS trust store (public CAs).",
                optional(non_empty_text)),
    ),
)
