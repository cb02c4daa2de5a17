"""What Tableau Server is told about TabPy, and how the controller reaches Tableau's REST API:
the data the plan, tsm and REST modules share. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

Version = tuple[int, int]

@dataclass(frozen=True)
class Connection:
    """What Tableau Server must hold for TabPy (Tableau's "analytics extension connection")."""

    host: str  # the name Tableau connects to (the TabPy certificate must cover it)
    port: int
    ssl: bool
    user: str | None  # None: TabPy without authentication
    password: str | None = field(repr=False)
    timeout_ms: int | None
    name: str  # REST: the connection's name on each site
    servers: tuple[str, ...] = ()  # the TabPy servers (inventory names) behind `host`

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"




@dataclass(frozen=True)
class RestTarget:
    url: str  # https://tableau.example.com
    fqdn: str  # its host name (TLS verifies it)
    address: str  # what the controller dials
    port: int
    ca_pem: bytes | None  # verifies Tableau Server's certificate; None: the OS trust store
    token_name: str
    token_secret: str = field(repr=False)
    token_site: str = ""  # contentUrl the token signs in to
    sites: tuple[str, ...] = ("",)
    absent: tuple[str, ...] = ()
    #: Tableau Cloud: no server-level settings, and each site signs in with its own token
    #: (site -> (token name, secret)): a Cloud token reaches its own site only.
    cloud: bool = False
    #: Tableau Server before 2021.2 holds one connection per site: a replaced connection is
    #: deleted before the new one is created (later versions: created first, then deleted).
    one_connection_per_site: bool = False
    site_tokens: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    @property
    def ordered_sites(self) -> list[str]:
        """The token's own site first: one site switch fewer."""
        return sorted(self.sites, key=lambda site: site != self.token_site)

    def signing_in_to(self, site: str) -> RestTarget:
        """This target as the token of `site` signs in (Tableau Cloud)."""
        name, secret = self.site_tokens[site]
        return replace(self, token_name=name, token_secret=secret, token_site=site)
