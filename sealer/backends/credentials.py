"""Where an environment's store credentials come from (#17), never the credentials themselves.

`sealer.yaml` may give an environment's backend a `credentials:` mapping that names a source:
an AWS profile or a role to assume, an Auth0 domain and the names of the variables holding that
tenant's client id/secret or token, a Vault address and namespace and the name of the variable
holding its token (or an auth mount to log in through: a JWT/OIDC role and the variable holding
the CI's ID token, or the variables holding an AppRole's role id and secret id), the names of
the variables holding a libpq conninfo or passfile. A secret written there is refused. An
environment naming no source keeps the store's global variables (AUTH0_DOMAIN,
VAULT_ADDR/VAULT_TOKEN, the AWS chain, libpq's PG*), as before.

Each source is checked when its store is opened (every named variable set, the profile known,
a Vault login through an auth mount done), so a rotation across environments stops before it
changes anything, with a line naming the environment and exactly what is missing. A configured
source never falls back to the global variables: one environment's credentials never reach
another environment's client.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from sealer import kube
from sealer.apikey import holds_key
from sealer.backends import vault_auth
from sealer.errors import BackendError, BadInput, ConfigError, MissingCredential

# The settings a source may hold, per store kind; `*_env` ones name an environment variable.
SETTINGS: dict[str, tuple[str, ...]] = {
    "dynamodb": ("profile", "role_arn", "external_id", "session_name", "sts_endpoint_url"),
    "auth0": ("domain", "token_env", "client_id_env", "client_secret_env", "audience"),
    "vault": (
        "address",
        "namespace",
        "token_env",
        "cacert",
        "auth",
        "auth_mount",
        "role",
        "jwt_env",
        "role_id_env",
        "secret_id_env",
    ),
    "postgres": ("conninfo_env", "passfile_env"),
}
_SECRET_NAME = re.compile(
    r"(?i)(pass(word|wd)?|secret|token|credential|private|access[_-]?key|api[_-]?key|jwt|cookie|role[_-]?id)"
)
# A sealer key is told as redaction tells it (escaped too: a store may quote Markdown, `slr\_…`).
_SECRET_VALUES: tuple[tuple[Callable[[str], object], str], ...] = (
    (re.compile(r"\b(hv[sbr]\.[\w-]{20,}|s\.[A-Za-z0-9]{24})").search, "a Vault token"),
    (re.compile(r"\beyJ[\w-]{10,}").search, "a JSON web token"),
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b").search, "an AWS access key id"),
    (re.compile(r"-----BEGIN ").search, "a PEM key"),
    (holds_key, "a sealer API key"),
    (re.compile(r"://[^/@\s]*:[^/@\s]*@").search, "a URL with a password"),
    (re.compile(r"(?i)\bpassword\s*=").search, "a connection string with a password"),
)
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Variables a `*_env` may not name: the process's own (a loader, a shell, a search path) and the
# secrets a CI runner or sealer itself holds (a PR naming GITHUB_TOKEN, the gh CLI's GH_TOKEN, or
# the GITEA_TOKEN or FORGEJO_TOKEN sealer opens pull requests with, beside its own `address` would
# have sealer send that token there), the AWS chain's (sent to another store), and
# the stores' global variables (VAULT_TOKEN, AUTH0_CLIENT_SECRET, libpq's PG*: an environment
# without `credentials:` uses them, so a PR naming one beside its own address sent it there).
_RESERVED = re.compile(
    r"(PATH|HOME|SHELL|USER|LOGNAME|PWD|OLDPWD|IFS|ENV|BASH_ENV|TMPDIR|KUBECONFIG|"
    r"VAULT_(ADDR|TOKEN|NAMESPACE|CACERT|CAPATH|CLIENT_CERT|CLIENT_KEY)|"
    r"AUTH0_(DOMAIN|MANAGEMENT_TOKEN|CLIENT_ID|CLIENT_SECRET|AUDIENCE)|PG[A-Z]*|"
    r"(LD|DYLD|PYTHON|GIT|SSH|GPG|GNUPG|KUBE|GITHUB|GH|ACTIONS|RUNNER|CI|GITLAB|GITEA|FORGEJO|SEALER|AWS)_\w*)",
    re.IGNORECASE,
)
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_PROFILE = re.compile(r"[\w+=,.@/-]{1,128}")
_NAMESPACE = re.compile(r"[A-Za-z0-9_][\w./-]{0,255}")
_AUTH_MOUNT = re.compile(r"[A-Za-z0-9_][\w.-]{0,63}(/[A-Za-z0-9_][\w.-]{0,63}){0,7}")
# A bare Auth0 domain: a host name and maybe a port, never user info, a path or a fragment that
# would send the token request to another host than the one a reviewer reads first.
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*(?::[0-9]{1,5})?")
_VAULT_ROLE = re.compile(r"[A-Za-z0-9_][\w.@-]{0,127}")
# What each Vault login method needs, and the settings only it may use (#17).
_VAULT_LOGINS = {
    "token": ("token_env",),
    "jwt": ("role", "jwt_env"),
    "approle": ("role_id_env", "secret_id_env"),
}


def secret_shape(value: str) -> str | None:
    """What `value` looks like when it looks like a credential (a token, a key), else None."""
    for shows, what in _SECRET_VALUES:
        if shows(value):
            return what
    return None


def refuse_secret_values(settings: Mapping[str, str], where: str) -> None:
    """A literal credential among a backend's settings in sealer.yaml: one line, nothing used."""
    for name, value in settings.items():
        shape = secret_shape(str(value))
        if shape:
            raise _problem(_at(where, name), f"looks like {shape}: credentials never go in sealer.yaml")


def check(kind: str, raw: Mapping[str, Any], where: str) -> dict[str, str]:
    """The validated source settings of a `kind` store (ConfigError at `where` from a file,
    BadInput from the command line when `where` starts with --)."""
    known = SETTINGS.get(kind, ())
    settings: dict[str, str] = {}
    for name, value in raw.items():
        at = _at(where, str(name))
        if not isinstance(value, str) or not value.strip():
            raise _problem(at, "must be a non-empty string")
        if _SECRET_NAME.search(str(name)) and not str(name).endswith("_env"):
            raise _problem(at, "credentials never go in sealer.yaml: name the variable holding it (*_env)")
        refuse_secret_values({str(name): value}, where)  # before any message could echo it
        if name not in known:
            listed = ", ".join(known) or f"none: {kind} takes no credential source"
            raise _problem(at, f"unknown setting (known: {listed})")
        settings[str(name)] = _checked(str(name), value.strip(), at)
    if settings:
        _complete(kind, settings, where)
    return settings


def _checked(name: str, value: str, where: str) -> str:
    if name.endswith("_env") and not _VARIABLE.fullmatch(value):
        raise _problem(where, "must name an environment variable (letters, digits, _), not hold a credential")
    if name.endswith("_env") and _RESERVED.fullmatch(value):
        raise _problem(
            where,
            f"{value} belongs to the shell, the CI runner, sealer or the stores' global settings: "
            "name a variable of this store's own",
        )
    shapes = {
        "role_arn": (_ROLE_ARN, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)"),
        "session_name": (_SESSION_NAME, "a role session name of 2-64 characters"),
        "profile": (_PROFILE, "an AWS profile name"),
        "namespace": (_NAMESPACE, "a Vault namespace path"),
        "auth_mount": (_AUTH_MOUNT, "a Vault auth mount path (e.g. jwt, gitlab/jwt)"),
        "role": (_VAULT_ROLE, "a Vault role name"),
    }
    if name == "auth" and value not in vault_auth.METHODS:
        raise _problem(where, f"unknown Vault auth method (known: {', '.join(vault_auth.METHODS)})")
    if name == "auth_mount" and ".." in value.split("/"):
        raise _problem(where, "must be a Vault auth mount path (e.g. jwt, gitlab/jwt)")
    if name in shapes and not shapes[name][0].fullmatch(value):
        raise _problem(where, f"must be {shapes[name][1]}")
    if name in ("address", "sts_endpoint_url") or name == "domain" and "://" in value:
        problem = url_problem(value)
        if problem:
            raise _problem(where, problem)
    elif name == "domain" and not _DOMAIN.fullmatch(value):  # the SDK puts it after https:// as it is
        raise _problem(
            where, "must be a tenant domain (tenant.eu.auth0.com) or an https URL without user info"
        )
    elif name == "domain" and _port_problem(urlsplit(f"https://{value}")):
        raise _problem(where, _PORT_RANGE)
    return value


_PORT_RANGE = "its port must be 1-65535"


def _port_problem(parts: SplitResult) -> bool:
    """A port past 65535 or 0: httpx connects to it modulo 65536 (`:99999` is port 34463), so the
    host:port a reviewer reads is not the one the credentials go to."""
    try:
        return parts.port == 0
    except ValueError:  # out of range, or no number
        return True


def url_problem(url: str) -> str | None:
    """What is wrong with the URL of a service sealer sends credentials or signed requests to
    (a token, a secret, AWS-signed calls), None when nothing is: it must be https, plain http
    only to this machine (a local emulator or test server), and hold no user info."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a broken [IPv6] literal
        return "must be an http(s) URL without user info"
    if parts.scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return "must be an http(s) URL without user info"
    if _port_problem(parts):
        return _PORT_RANGE
    if parts.scheme == "http" and not is_loopback(host):  # the credentials would go in clear
        return "must be https (plain http only to this machine: 127.0.0.0/8, ::1, localhost)"
    return None


def is_loopback(host: str) -> bool:
    """Whether `host` (a URL's host name) never leaves this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _complete(kind: str, settings: Mapping[str, str], where: str) -> None:
    """A configured source names all it needs: it never borrows from the global variables."""
    needs = {
        "dynamodb": (("profile",), ("role_arn",)),
        "auth0": (("domain", "token_env"), ("domain", "client_id_env", "client_secret_env")),
        "vault": (("address", "token_env"),),
        "postgres": (("conninfo_env",), ("passfile_env",)),
    }[kind]
    if kind == "vault" and settings.get("auth", "token") != "token":
        _complete_vault_login(settings, where)
        return
    if not any(all(name in settings for name in need) for need in needs):
        choices = " or ".join("+".join(need) for need in needs)
        raise _problem(where, f"a {kind} credential source needs {choices}")
    if kind == "vault":
        _complete_vault_login(settings, where)
    if ("client_id_env" in settings) != ("client_secret_env" in settings):
        raise _problem(where, "client_id_env and client_secret_env go together")
    if "external_id" in settings or "session_name" in settings:
        if "role_arn" not in settings:
            raise _problem(where, "external_id and session_name need role_arn")


def _complete_vault_login(settings: Mapping[str, str], where: str) -> None:
    """One login method, all it needs and nothing another method uses: a half-configured source
    never logs in some other way than the one it names."""
    method = settings.get("auth", "token")
    needs = ("address", *_VAULT_LOGINS[method])
    missing = [name for name in needs if name not in settings]
    if missing:
        raise _problem(where, f"a vault {method} login needs {'+'.join(needs)}")
    owners = {name: other for other, names in _VAULT_LOGINS.items() if other != method for name in names}
    if method == "token":
        owners["auth_mount"] = "jwt or approle"
    for name in sorted(set(owners) & set(settings)):
        raise _problem(where, f"{name} goes with auth: {owners[name]}, not auth: {method}")


def _at(where: str, name: str) -> str:
    return f"{where} {name}" if where.startswith("--") else f"{where}.{name}"


def _problem(where: str, what: str) -> BadInput:
    return BadInput(f"{where}: {what}") if where.startswith("--") else ConfigError(where, what)


def _variable(env: str, what: str, name: str) -> str:
    """The value of variable `name`; MissingCredential naming the environment when unset."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingCredential(f"{env}: {what} variable {name} is not set")
    return value


# -- AWS ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsSource:
    """A profile, a role to assume (from the profile or the default chain), or the default chain."""

    env: str = ""
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    session_name: str | None = None
    sts_endpoint_url: str | None = None

    def check(self) -> None:
        if self.profile:
            self._base()

    def _base(self) -> Any:
        import boto3
        from botocore.exceptions import ProfileNotFound

        try:  # a fresh session each time: never boto3's shared default session
            return boto3.session.Session(profile_name=self.profile)
        except ProfileNotFound:
            profile = self.profile or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE")
            raise MissingCredential(
                f"{self.env}: AWS profile {profile} is not in the AWS config or credentials files"
            ) from None

    def session(self, region: str | None) -> Any:
        """A boto3 session of this environment's own (the role assumed now when one is named)."""
        import boto3

        base = self._base()
        if not self.role_arn:
            return base
        sts = base.client("sts", region_name=region, endpoint_url=self.sts_endpoint_url)
        default = f"sealer-{self.env}" if _SESSION_NAME.fullmatch(f"sealer-{self.env}") else "sealer"
        request = {"RoleArn": self.role_arn, "RoleSessionName": self.session_name or default}
        if self.external_id:
            request["ExternalId"] = self.external_id
        found = sts.assume_role(**request)["Credentials"]
        return boto3.session.Session(
            aws_access_key_id=found["AccessKeyId"],
            aws_secret_access_key=found["SecretAccessKey"],
            aws_session_token=found["SessionToken"],
            region_name=region,
        )

    def describe(self) -> str:
        if self.role_arn:
            return f"role {self.role_arn}" + (f" from profile {self.profile}" if self.profile else "")
        return f"profile {self.profile}" if self.profile else "the AWS credential chain"


# -- Auth0 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Auth0Login:
    domain: str
    token: str | None  # a management API token, or None: the client-credentials grant
    client_id: str
    client_secret: str
    audience: str | None


@dataclass(frozen=True)
class Auth0Source:
    env: str = ""
    domain: str | None = None
    token_env: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    audience: str | None = None

    @property
    def configured(self) -> bool:
        return self.domain is not None

    @property
    def hint(self) -> str:
        """Which variables hold the credentials, for a 401's message."""
        if not self.configured:
            return "AUTH0_MANAGEMENT_TOKEN or AUTH0_CLIENT_ID / AUTH0_CLIENT_SECRET"
        names = [n for n in (self.token_env, self.client_id_env, self.client_secret_env) if n]
        return " / ".join(names)

    def check(self) -> None:
        if self.configured:
            self.login()

    def login(self) -> Auth0Login:
        if not self.configured:
            return _global_auth0()
        assert self.domain is not None
        token = os.environ.get(self.token_env, "").strip() if self.token_env else ""
        if token or not self.client_id_env:
            token = token or _variable(self.env, "auth0 management token", str(self.token_env))
            return Auth0Login(self.domain, token, "", "", self.audience)
        client_id = _variable(self.env, "auth0 client id", self.client_id_env)
        secret = _variable(self.env, "auth0 client secret", str(self.client_secret_env))
        return Auth0Login(self.domain, None, client_id, secret, self.audience)


def _global_auth0() -> Auth0Login:
    domain = os.environ.get("AUTH0_DOMAIN", "").strip()
    if not domain:
        raise BackendError("auth0: AUTH0_DOMAIN is not set")
    token = os.environ.get("AUTH0_MANAGEMENT_TOKEN", "").strip()
    client_id = os.environ.get("AUTH0_CLIENT_ID", "").strip()
    secret = os.environ.get("AUTH0_CLIENT_SECRET", "").strip()
    if not token and not (client_id and secret):
        raise BackendError("auth0: set AUTH0_MANAGEMENT_TOKEN, or AUTH0_CLIENT_ID + AUTH0_CLIENT_SECRET")
    return Auth0Login(domain, token or None, client_id, secret, os.environ.get("AUTH0_AUDIENCE") or None)


# -- Vault ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VaultLogin:
    address: str
    token: str
    namespace: str | None
    verify: str | bool


@dataclass(frozen=True)
class VaultSource:
    """A token in a named variable (`auth: token`, the default), or a login through an auth
    mount: `auth: jwt` (a role and the variable holding the CI's ID token) or `auth: approle`
    (the variables holding a role id and a secret id). A login happens once per source, when its
    store is opened; the token it issues stays in this object, for this environment only."""

    env: str = ""
    address: str | None = None
    namespace: str | None = None
    token_env: str | None = None
    cacert: str | None = None
    auth: str = "token"
    auth_mount: str | None = None
    role: str | None = None
    jwt_env: str | None = None
    role_id_env: str | None = None
    secret_id_env: str | None = None
    _issued: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def mount(self) -> str:
        return self.auth_mount or vault_auth.DEFAULT_MOUNTS.get(self.auth, "")

    @property
    def token_variable(self) -> str:
        """Where the token comes from, for a refusal's message (never the token)."""
        if self.auth != "token":
            return vault_auth.describe(self.auth, self.mount, self.role)
        return self.token_env or "VAULT_TOKEN"

    def check(self) -> None:
        if self.address is not None:
            self.login()

    def login(self) -> VaultLogin:
        verify: str | bool = self.cacert or os.environ.get("VAULT_CACERT") or True
        if self.address is None:  # the global variables, as before #17
            address = os.environ.get("VAULT_ADDR", "").strip()
            token = os.environ.get("VAULT_TOKEN", "").strip()
            if not address:
                raise BackendError("vault: VAULT_ADDR is not set")
            if not kube.is_http_url(address):  # never echoed: user info in it is a credential
                raise BackendError(
                    "vault: VAULT_ADDR is not an http(s) URL (e.g. https://vault.example:8200)"
                )
            if not token:
                raise BackendError("vault: VAULT_TOKEN is not set")
            return VaultLogin(address, token, os.environ.get("VAULT_NAMESPACE") or None, verify)
        if self.cacert:
            _ca_file(self.env, self.cacert)
        if self.auth == "token":
            token = _variable(self.env, "vault token", self.token_variable)
        else:
            token = self._logged_in(verify)
        return VaultLogin(self.address, token, self.namespace, verify)  # never VAULT_NAMESPACE

    def _logged_in(self, verify: str | bool) -> str:
        """The client token of this source's login: every variable read first (nothing sent
        when one is missing), then one login, kept for the store's lifetime."""
        if not self._issued:
            assert self.address is not None
            sent = self._login_payload()
            token = vault_auth.login(
                self.auth,
                self.mount,
                sent,
                address=self.address,
                namespace=self.namespace,
                verify=verify,
                where=f"{self.env}: vault {self.auth} login at auth mount {self.mount}",
                secretish=secret_shape,
            )
            self._issued.append(token)
        return self._issued[0]

    def _login_payload(self) -> dict[str, str]:
        if self.auth == "jwt":
            return {"role": str(self.role), "jwt": _variable(self.env, "vault jwt", str(self.jwt_env))}
        return {
            "role_id": _variable(self.env, "vault approle role id", str(self.role_id_env)),
            "secret_id": _variable(self.env, "vault approle secret id", str(self.secret_id_env)),
        }


def _ca_file(env: str, path: str) -> None:
    """A `cacert` sealer.yaml names must be a regular file: TLS would block reading a FIFO (or
    /dev/stdin) the repository put there, and read a device forever."""
    try:
        info = os.stat(path)
    except OSError as err:
        raise MissingCredential(f"{env}: vault cacert {path}: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise MissingCredential(f"{env}: vault cacert {path} is not a regular file")


# -- PostgreSQL -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresSource:
    env: str = ""
    conninfo_env: str | None = None
    passfile_env: str | None = None

    def check(self) -> None:
        self.settings()

    def settings(self) -> tuple[str, dict[str, str]]:
        """(conninfo, keyword settings) for psycopg.connect; libpq's PG* variables fill the rest."""
        conninfo = _variable(self.env, "postgres conninfo", self.conninfo_env) if self.conninfo_env else ""
        extra: dict[str, str] = {}
        if self.passfile_env:
            extra["passfile"] = _variable(self.env, "postgres passfile", self.passfile_env)
        if self.conninfo_env or self.passfile_env:
            from psycopg import ProgrammingError
            from psycopg.conninfo import conninfo_to_dict

            try:
                has_password = "password" in conninfo_to_dict(conninfo)
            except ProgrammingError:  # say which variable, never its text (it may hold a password)
                raise MissingCredential(
                    f"{self.env}: postgres conninfo variable {self.conninfo_env} is not a libpq conninfo"
                ) from None
            if not has_password:
                extra["password"] = ""  # an empty password lets libpq read the passfile, never PGPASSWORD
        return conninfo, extra


Source = AwsSource | Auth0Source | VaultSource | PostgresSource


def source_for(kind: str, settings: Mapping[str, str], env: str) -> Source | None:
    """The typed source of a `kind` store (None for a store that takes none), checked: every
    variable it names is set."""
    classes: dict[str, type[Source]] = {
        "dynamodb": AwsSource,
        "auth0": Auth0Source,
        "vault": VaultSource,
        "postgres": PostgresSource,
    }
    if kind not in classes:
        return None
    source = classes[kind](env or "this environment", **settings)
    source.check()
    return source


AWS_NO_REGION = "no AWS region: set the store's `region` option, AWS_DEFAULT_REGION or the profile's"


def check_ready(kind: str, options: Mapping[str, str], settings: Mapping[str, str], env: str) -> None:
    """What a `kind` store needs from this machine before its first request, checked without
    one: the global variables an environment naming no source uses (VAULT_ADDR and VAULT_TOKEN;
    AUTH0_DOMAIN and a token or client) and DynamoDB's region. Missing is MissingCredential
    naming ENV: a phase stops before it changes anything (exit 2), instead of meeting it as
    a store failure halfway (exit 4, "run it again", when nothing was done)."""
    try:
        if kind == "vault" and not settings:
            VaultSource(env).login()  # the global branch: reads variables, sends nothing
        elif kind == "auth0" and not settings:
            _global_auth0()
    except BackendError as err:
        raise MissingCredential(f"{env}: {err}") from None
    if kind == "dynamodb" and not options.get("region") and not _aws_region(settings, env):
        raise MissingCredential(f"{env}: dynamodb: {AWS_NO_REGION}")
    if kind == "dynamodb" and _aws_credentials_missing(settings, env):
        raise MissingCredential(
            f"{env}: dynamodb: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or a profile (AWS_PROFILE, or the environment's `--credential profile=NAME`)"
        )


# Where the AWS chain asks a server (EC2's or a container's metadata endpoint) or runs a command:
# whether they hold credentials only a request (or the command) tells.
_AWS_ASKING_PROVIDERS = ("custom-process", "container-role", "iam-role")
_AWS_CONTAINER_VARS = ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def _aws_credentials_missing(settings: Mapping[str, str], env: str) -> bool:
    """True when the AWS credential chain can hold none, known without a request: the places it
    reads on this machine (variables, config and credentials files, SSO and role settings, each
    read only) hold none, and none of those that ask (EC2's metadata endpoint, unless
    AWS_EC2_METADATA_DISABLED; a container's, when its variable is set; a credential_process)
    could answer. Otherwise only the first request tells (a store failure then)."""
    metadata_off = os.environ.get("AWS_EC2_METADATA_DISABLED", "false").lower() == "true"
    if not metadata_off or any(var in os.environ for var in _AWS_CONTAINER_VARS):
        return False
    with _aws_config_read(env):
        session = AwsSource(env, **settings)._base()._session  # botocore's, under boto3's
        if session.get_scoped_config().get("credential_process"):
            return False
        chain = session.get_component("credential_provider")
        for name in _AWS_ASKING_PROVIDERS:
            chain.remove(name)
        return chain.load_credentials() is None


def _aws_region(settings: Mapping[str, str], env: str) -> str | None:
    """The region boto3 would use (AWS_DEFAULT_REGION, the profile's): no request."""
    with _aws_config_read(env):
        return str(AwsSource(env, **settings)._base().region_name or "") or None


@contextlib.contextmanager
def _aws_config_read(env: str) -> Iterator[None]:
    """A config file botocore cannot read is this machine's to fix: MissingCredential, not its
    traceback."""
    from botocore.exceptions import BotoCoreError

    try:
        yield
    except BotoCoreError as err:
        first = (str(err).strip().splitlines() or ["unreadable"])[0]
        raise MissingCredential(f"{env}: dynamodb: the AWS configuration: {first}") from None
