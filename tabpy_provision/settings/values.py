"""Every setting, typed: one frozen class per role. Written by
tabpy_provision.settings.typed.values_source from settings/table.py: do not edit (the
failure of tests/unit/test_settings.py says how to write it again)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tabpy_provision.settings.frozen import FrozenMapping


@dataclass(frozen=True, slots=True)
class TabpySettings:
    """TabPy server."""

    tabpy_version: str = "2.16.0"
    tabpy_fqdn: str | None = None
    tabpy_connect_address: str | None = None
    tabpy_system_user: str = "tabpy"
    tabpy_service_name: str = "tabpy"
    tabpy_install_dir: str = "/opt/tabpy"
    tabpy_releases_to_keep: int = 2
    tabpy_rolling_batch: int = 1
    tabpy_instances: int | Literal["auto"] = 1
    tabpy_instance_ports_start: int = 9101
    tabpy_config_dir: str = "/etc/tabpy"
    tabpy_log_dir: str = "/var/log/tabpy"
    tabpy_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    tabpy_log_max_bytes: int = 10000000
    tabpy_log_backups: int = 5
    tabpy_port: int = 9004
    tabpy_transfer_protocol: Literal["https", "http"] = "https"
    tabpy_minimum_tls_version: Literal["TLSv1_2", "TLSv1_3"] = "TLSv1_2"
    tabpy_tls_profile: Literal["intermediate", "modern"] = "intermediate"
    tabpy_auth_enabled: bool = True
    tabpy_allow_no_auth: bool = False
    tabpy_users: Mapping[str, str] = FrozenMapping()
    tabpy_state_path: str = "/var/lib/tabpy/state"
    tabpy_query_object_path: str = "/var/lib/tabpy/query_objects"
    tabpy_static_path: str | None = None
    tabpy_log_details: bool = False
    tabpy_max_request_size_mb: int = 100
    tabpy_evaluate_enable: bool = True
    tabpy_evaluate_timeout: float = 30
    tabpy_gzip_enable: bool = True
    tabpy_arrow_enable: bool = False
    tabpy_arrowflight_port: int = 13622
    tabpy_oauth_enabled: bool = False
    tabpy_oauth_issuer: str | None = None
    tabpy_oauth_jwks_uri: str | None = None
    tabpy_oauth_allow_nonpublic_jwks: bool = False
    tabpy_oauth_audience: str | None = None
    tabpy_oauth_required_scopes: str | None = None
    tabpy_oauth_enforce_endpoint_scopes: bool = False
    tabpy_oauth_query_scope: str = "tabpy:query"
    tabpy_oauth_evaluate_scope: str = "tabpy:evaluate"
    tabpy_oauth_deploy_scope: str = "tabpy:deploy"
    tabpy_oauth_log_user: bool = False


@dataclass(frozen=True, slots=True)
class CertificatesSettings:
    """Certificates (private CA or supplied)."""

    tabpy_certificate_file: str | None = None
    tabpy_key_file: str | None = None
    tabpy_cert_dns_aliases: tuple[str, ...] = ()
    tabpy_cert_ip_addresses: tuple[str, ...] = ()
    pki_dir: str = "pki"
    pki_common_name: str | None = None
    pki_permitted_names: tuple[str, ...] = ()
    pki_leaf_days: int = 397
    pki_renew_before_days: int = 30
    tabpy_key_passphrase: str | None = None
    tabpy_ca_file: str | None = None
    acme_directory_url: str | None = None
    acme_challenge: Literal["dns-01", "http-01"] = "dns-01"
    acme_dns_hook: tuple[str, ...] | None = None
    acme_email: str | None = None
    acme_server_ca_file: str | None = None
    acme_timeout: float = 120
    trust_artifacts_dir: str = "trust-artifacts"


@dataclass(frozen=True, slots=True)
class SecretsSettings:
    """Secrets and checks."""

    secrets_dir: str = "secrets"
    secrets_vault_path: str | None = None
    allow_plaintext_secrets: bool = False
    tabpy_health_check_user: str | None = None
    tabpy_health_check_timeout: float = 90


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Pool balancer (and a host's own HAProxy)."""

    lb_service_name: str | None = None
    lb_port: int = 9004
    lb_backend_group: str = "tabpy_servers"
    lb_monitor_user: str | None = None
    lb_check_interval_ms: int = 1000
    lb_check_fall: int = 2
    lb_check_rise: int = 2
    lb_drain_timeout: float = 60
    lb_virtual_address: str | None = None
    lb_vrrp_router_id: int = 51
    lb_vrrp_interface: str | None = None


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """The fence: who reaches TabPy (and Rserve), what they reach and use."""

    tabpy_firewall: bool = True
    tabpy_allowed_sources: tuple[str, ...] | None = None
    tabpy_outbound_allowed: tuple[str, ...] = ()
    tabpy_fence_allow_everyone: bool = False
    tabpy_memory_max: str = "auto"
    tabpy_tasks_max: int = 512
    tabpy_cpu_weight: int = 100


@dataclass(frozen=True, slots=True)
class AnalyticsSettings:
    """What the analysts' scripts get: libraries, data, models, functions."""

    tabpy_requirements: tuple[str, ...] = ()
    tabpy_locks_dir: str = "locks"
    tabpy_nltk_data: tuple[str, ...] = ()
    tabpy_nltk_data_dir: str | None = None
    tabpy_prebuilt_models: tuple[str, ...] = ()
    tabpy_functions_dir: str | None = None


@dataclass(frozen=True, slots=True)
class RserveSettings:
    """Rserve server (R's analytics extension; docs/rserve.md)."""

    rserve_fqdn: str | None = None
    rserve_connect_address: str | None = None
    rserve_port: int = 6311
    rserve_users: Mapping[str, str] = FrozenMapping()
    rserve_check_user: str | None = None
    rserve_system_user: str = "rserve"
    rserve_service_name: str = "rserve"
    rserve_config_dir: str = "/etc/rserve"
    rserve_workdir: str = "/var/lib/rserve"
    rserve_releases_to_keep: int = 2
    rserve_allowed_sources: tuple[str, ...] | None = None
    rserve_outbound_allowed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessSettings:
    """Reaching the host as root (directly or through sudo)."""

    sudo_password: str | None = None


@dataclass(frozen=True, slots=True)
class BackupSettings:
    """Backups and the environment."""

    environment: str = "default"
    backup_dir: str = "backups"
    backup_key: str | None = None
    controller_state_key: str | None = None
    backup_keep: int = 7
    backup_max_bytes: int = 2147483648


@dataclass(frozen=True, slots=True)
class TrustSettings:
    """Client trust."""

    trust_ca_certificates: tuple[str, ...] = ("root",)
    trust_os_family: Literal["debian", "rhel", "suse", "macos"] | None = None


@dataclass(frozen=True, slots=True)
class TableauSettings:
    """Tableau Server node (and, where it says so, a Tableau Cloud site)."""

    tableau_version: str | None = None
    tableau_tabpy_host: str | None = None
    tableau_tabpy_port: int | None = None
    tableau_tabpy_ssl: bool = True
    tableau_tabpy_user: str | None = None
    tableau_connect_timeout_ms: int | None = None
    tableau_connection_name: str = "TabPy"
    tableau_tsm_run_as: str | None = None
    tableau_tsm_login_user: str | None = None
    tableau_tsm_login_password: str | None = None
    tableau_restart_on_trust_change: bool = False
    tableau_rest_url: str | None = None
    tableau_rest_connect_address: str | None = None
    tableau_rest_ca_file: str | None = None
    tableau_rest_token_name: str | None = None
    tableau_rest_token_secret: str | None = None
    tableau_rest_token_site: str | None = None
    tableau_rest_sites: tuple[str, ...] | None = None
    tableau_rest_absent_connections: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CloudSettings:
    """Tableau Cloud (group tableau_cloud: @local, the controller)."""

    tableau_cloud_url: str | None = None
    tableau_cloud_sites: Mapping[str, Mapping[str, str]] = FrozenMapping()
    tableau_cloud_public_roots: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """Every role's settings of one host."""

    tabpy: TabpySettings
    certificates: CertificatesSettings
    secrets: SecretsSettings
    pool: PoolSettings
    network: NetworkSettings
    analytics: AnalyticsSettings
    rserve: RserveSettings
    access: AccessSettings
    backup: BackupSettings
    trust: TrustSettings
    tableau: TableauSettings
    cloud: CloudSettings
