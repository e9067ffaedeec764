"""Synthetic test vectors for `sealer scan`: token families from their public format descriptions.

The spec below holds each family's shape (prefix, alphabet, lengths, checksum), never a token:
bodies are drawn at run time from a seeded generator, so this file trips no scanner (sealer's own
hook, push protection) and the vectors are the same on every run. Where the format carries a
checksum (GitHub's and npm's tokens: CRC32 of the random part in base62; sealer's keys: CRC32 of
the whole body) the vector has a correct one, and a decoy with a wrong one sits beside it.

A template is literal text with `{alphabet:length}` fields and two checksum fields: `{crc}`
(base62 CRC32 of the random field just before it, 6 digits) and `{crcall}` (of everything before
it). `bench/scan_bench.py` builds its labelled corpus from the same spec.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
import zlib
from collections.abc import Callable
from typing import NamedTuple

B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ALPHABETS = {
    "b62": B62,
    "hex": "0123456789abcdef",
    "HEX": "0123456789ABCDEF",
    "lan": string.ascii_lowercase + string.digits,
    "uan": string.ascii_uppercase + string.digits,
    "alpha": string.ascii_letters,
    "b64": string.ascii_letters + string.digits + "+/",
    "url": string.ascii_letters + string.digits + "_-",
    "b32": "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
    "bech": "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
    "d": string.digits,
    "d19": "123456789",
}
_FIELD = re.compile(r"\{(\w+)(?::(\d+))?\}")


def base62(number: int, width: int = 6) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = B62[rest] + digits
    return digits.rjust(width, "0")


def render(template: str, rng: random.Random, wrong_checksum: bool = False) -> str:
    """The template with its random fields drawn from `rng` and its checksums computed."""
    out, last = "", ""
    at = 0
    for field in _FIELD.finditer(template):
        out += template[at : field.start()]
        name, size = field.group(1), field.group(2)
        if name in ("crc", "crcall"):
            value = base62(zlib.crc32((last if name == "crc" else out).encode()))
            if wrong_checksum:
                value = value[:-1] + ("0" if value[-1] != "0" else "1")
        else:
            value = last = "".join(rng.choice(ALPHABETS[name]) for _ in range(int(size or 0)))
        out += value
        at = field.end()
    return out + template[at:]


class Family(NamedTuple):
    """One token family: how to make a vector, which rules may report it, where it can sit."""

    id: str
    rules: frozenset[str]  # any of these reporting it counts
    make: Callable[[random.Random, bool], str]  # (rng, decoy) -> the vector
    checksum: bool = False  # has a wrong-checksum decoy
    settings: tuple[str, ...] = ()  # empty: every inline setting (SETTINGS)


def token(fid: str, rule: str, template: str, checksum: bool = False) -> Family:
    return Family(fid, frozenset({rule}), lambda rng, decoy: render(template, rng, decoy), checksum)


# Families with a recognisable shape: id, the rule that reports it, the template.
# Facts (prefixes, lengths, alphabets) from the vendors' documentation and gitleaks' default rules.
_TOKENS: list[tuple[str, str, str]] = [
    ("aws-access-key-id", "aws-access-key-id", "AKIA{b32:16}"),
    ("aws-sts-key-id", "aws-access-key-id", "ASIA{b32:16}"),
    ("aws-bedrock-api-key", "aws-bedrock-api-key", "ABSK{b64:132}"),
    ("github-fine-grained-pat", "github-token", "github_pat_11{uan:20}_{b62:59}"),
    ("gitlab-pat", "gitlab-token", "glpat-{url:20}"),
    ("gitlab-deploy-token", "gitlab-token", "gldt-{url:20}"),
    ("gitlab-runner-token", "gitlab-token", "glrt-{url:20}"),
    ("gitlab-pipeline-trigger", "gitlab-token", "glptt-{hex:40}"),
    ("slack-bot-token", "slack-token", "xoxb-{d:11}-{d:13}-{b62:24}"),
    ("slack-user-token", "slack-token", "xoxp-{d:11}-{d:11}-{d:13}-{hex:32}"),
    ("slack-app-token", "slack-token", "xapp-1-A{uan:10}-{d:13}-{hex:64}"),
    ("slack-webhook", "slack-webhook", "https://hooks.slack.com/services/T{uan:8}/B{uan:10}/{b62:24}"),
    ("discord-webhook", "discord-webhook", "https://discord.com/api/webhooks/{d19:18}/{url:68}"),
    (
        "teams-webhook",
        "teams-webhook",
        "https://contoso.webhook.office.com/webhookb2/{hex:8}-{hex:4}-{hex:4}-{hex:4}-{hex:12}@"
        "{hex:8}-{hex:4}-{hex:4}-{hex:4}-{hex:12}/IncomingWebhook/{hex:32}/{hex:8}-{hex:4}-{hex:4}-{hex:4}-{hex:12}",
    ),
    ("stripe-secret-key", "stripe-secret-key", "sk_live_{b62:24}"),
    ("stripe-restricted-key", "stripe-secret-key", "rk_live_{b62:24}"),
    ("google-api-key", "google-api-key", "AIza{url:35}"),
    ("google-oauth-client-secret", "google-oauth-client-secret", "GOCSPX-{url:28}"),
    ("pypi-upload-token", "pypi-token", "pypi-AgEIcHlwaS5vcmc{url:150}"),
    ("anthropic-api-key", "anthropic-api-key", "sk-ant-api03-{url:93}AA"),
    ("anthropic-admin-key", "anthropic-api-key", "sk-ant-admin01-{url:93}AA"),
    ("openai-project-key", "openai-api-key", "sk-proj-{url:74}T3BlbkFJ{url:74}"),
    ("openai-service-account-key", "openai-api-key", "sk-svcacct-{url:58}T3BlbkFJ{url:58}"),
    ("openai-legacy-key", "openai-api-key", "sk-{b62:20}T3BlbkFJ{b62:20}"),
    ("huggingface-token", "huggingface-token", "hf_{alpha:34}"),
    ("perplexity-api-key", "perplexity-api-key", "pplx-{b62:48}"),
    ("groq-api-key", "groq-api-key", "gsk_{b62:52}"),
    ("xai-api-key", "xai-api-key", "xai-{b62:80}"),
    ("replicate-api-token", "replicate-api-token", "r8_{b62:37}"),
    ("vault-service-token", "vault-token", "hvs.{url:90}"),
    ("vault-batch-token", "vault-token", "hvb.{url:140}"),
    ("terraform-cloud-token", "terraform-cloud-token", "{lan:14}.atlasv1.{url:67}"),
    ("databricks-token", "databricks-token", "dapi{hex:32}"),
    ("digitalocean-pat", "digitalocean-token", "dop_v1_{hex:64}"),
    ("digitalocean-oauth-token", "digitalocean-token", "doo_v1_{hex:64}"),
    ("digitalocean-refresh-token", "digitalocean-token", "dor_v1_{hex:64}"),
    ("doppler-token", "doppler-token", "dp.pt.{b62:43}"),
    ("dynatrace-token", "dynatrace-token", "dt0c01.{uan:24}.{uan:64}"),
    ("sendgrid-api-key", "sendgrid-api-key", "SG.{url:22}.{url:43}"),
    ("twilio-api-key", "twilio-api-key", "SK{hex:32}"),
    ("mailgun-api-key", "mailgun-api-key", "key-{hex:32}"),
    ("brevo-api-key", "brevo-api-key", "xkeysib-{hex:64}-{b62:16}"),
    ("shopify-access-token", "shopify-token", "shpat_{hex:32}"),
    ("shopify-shared-secret", "shopify-token", "shpss_{hex:32}"),
    ("shopify-custom-app-token", "shopify-token", "shpca_{hex:32}"),
    ("shopify-private-app-token", "shopify-token", "shppa_{hex:32}"),
    ("postman-api-key", "postman-api-key", "PMAK-{hex:24}-{hex:34}"),
    ("pulumi-token", "pulumi-token", "pul-{hex:40}"),
    ("rubygems-api-key", "rubygems-api-key", "rubygems_{hex:48}"),
    ("linear-api-key", "linear-api-key", "lin_api_{b62:40}"),
    ("new-relic-user-key", "new-relic-key", "NRAK-{uan:27}"),
    ("new-relic-insert-key", "new-relic-key", "NRII-{url:32}"),
    ("grafana-cloud-token", "grafana-token", "glc_{b64:80}"),
    ("grafana-service-account-token", "grafana-token", "glsa_{b62:32}_{hex:8}"),
    ("sentry-user-token", "sentry-token", "sntryu_{hex:64}"),
    ("planetscale-token", "planetscale-token", "pscale_tkn_{url:43}"),
    ("planetscale-password", "planetscale-token", "pscale_pw_{url:43}"),
    ("prefect-api-key", "prefect-api-key", "pnu_{b62:36}"),
    ("readme-api-key", "readme-api-key", "rdme_{lan:70}"),
    ("scalingo-token", "scalingo-token", "tk-us-{url:48}"),
    ("shippo-api-token", "shippo-api-token", "shippo_live_{hex:40}"),
    ("square-access-token", "square-token", "EAAA{url:60}"),
    ("square-oauth-secret", "square-token", "sq0csp-{url:43}"),
    ("age-secret-key", "age-secret-key", "AGE-SECRET-KEY-1{bech:58}"),
    ("alibaba-access-key-id", "alibaba-access-key-id", "LTAI{b62:20}"),
    ("artifactory-api-key", "artifactory-api-key", "AKCp{b62:69}"),
    ("adobe-client-secret", "adobe-client-secret", "p8e-{lan:32}"),
    ("clojars-token", "clojars-token", "CLOJARS_{lan:60}"),
    ("cloudflare-origin-ca-key", "cloudflare-origin-ca-key", "v1.0-{hex:24}-{hex:146}"),
    ("duffel-token", "duffel-token", "duffel_live_{url:43}"),
    ("easypost-api-key", "easypost-api-key", "EZAK{b62:54}"),
    ("flutterwave-secret-key", "flutterwave-key", "FLWSECK-{hex:32}-X"),
    ("flyio-token", "flyio-token", "fo1_{url:43}"),
    ("frameio-token", "frameio-token", "fio-u-{url:64}"),
    ("harness-pat", "harness-token", "pat.{url:22}.{b62:24}.{b62:20}"),
    ("heroku-api-key", "heroku-api-key", "HRKU-AA{url:58}"),
    ("infracost-token", "infracost-token", "ico-{b62:32}"),
    ("notion-token", "notion-token", "ntn_{d:11}{b62:35}"),
    ("openshift-token", "openshift-token", "sha256~{url:43}"),
    ("sourcegraph-token", "sourcegraph-token", "sgp_{hex:16}_{hex:40}"),
    ("settlemint-token", "settlemint-token", "sm_pat_{b62:16}"),
    ("telegram-bot-token", "telegram-bot-token", "{d19:10}:AA{url:33}"),
    ("azure-ad-client-secret", "azure-ad-client-secret", "{b62:3}8Q~{url:34}"),  # no "-" before Q~
    ("onepassword-secret-key", "onepassword-secret-key", "A3-{uan:6}-{uan:11}-{uan:5}-{uan:5}-{uan:5}"),
    ("onepassword-service-token", "onepassword-service-token", "ops_eyJ{b64:260}"),
    ("dropbox-token", "dropbox-token", "sl.{url:135}"),
    ("docker-hub-pat", "docker-hub-token", "dckr_pat_{url:27}"),
    ("tailscale-auth-key", "tailscale-key", "tskey-auth-k{b62:10}CNTRL-{b62:33}"),
    ("supabase-token", "supabase-token", "sbp_{hex:40}"),
    ("figma-token", "figma-token", "figd_{url:40}"),
    ("buildkite-token", "buildkite-token", "bkua_{hex:40}"),
    ("circleci-token", "circleci-token", "CCIPAT_{b62:22}_{hex:40}"),
    ("clickhouse-api-secret", "clickhouse-api-secret", "4b1d{b62:38}"),
    ("airtable-pat", "airtable-token", "pat{b62:14}.{hex:64}"),
    ("azure-storage-account-key", "azure-storage-key", "AccountKey={b64:86}=="),
    ("azure-shared-access-key", "azure-storage-key", "SharedAccessKey={b64:43}="),
]
# Checksummed families: a correct checksum is found, a wrong one is a decoy.
_CHECKSUMMED: list[tuple[str, str, str]] = [
    ("github-pat", "github-token", "ghp_{b62:30}{crc}"),
    ("github-oauth-token", "github-token", "gho_{b62:30}{crc}"),
    ("github-user-to-server-token", "github-token", "ghu_{b62:30}{crc}"),
    ("github-server-to-server-token", "github-token", "ghs_{b62:30}{crc}"),
    ("github-refresh-token", "github-token", "ghr_{b62:30}{crc}"),
    ("npm-access-token", "npm-token", "npm_{b62:30}{crc}"),
    ("sealer-api-key", "sealer-api-key", "slr_prod-eu_{b62:32}{crcall}"),
]


def _jwt(rng: random.Random, decoy: bool) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    header = {"typ": "JWT"} if decoy else {"alg": "RS256", "typ": "JWT"}
    claims = {
        "sub": "system:serviceaccount:apps:deployer",
        "iat": rng.randrange(1_600_000_000, 1_800_000_000),
    }
    return f"{part(header)}.{part(claims)}.{render('{url:86}', rng)}"


def pem(rng: random.Random, label: str = "RSA PRIVATE KEY", size: int = 900) -> str:
    body = base64.b64encode(rng.randbytes(size)).decode()
    return "\n".join([f"-----BEGIN {label}-----", *re.findall(".{1,64}", body), f"-----END {label}-----"])


def _password(rng: random.Random) -> str:
    return render("{b62:20}", rng)


# Credentials in URLs and connection strings: (id, template with {pw} for the password).
_URLS: list[tuple[str, str]] = [
    ("postgres-url", "postgres://app_rw:{pw}@db.internal:5432/orders?sslmode=require"),
    ("postgresql-url", "postgresql://reporting:{pw}@10.0.4.7/analytics"),
    ("mysql-url", "mysql://root:{pw}@mysql-primary:3306/shop"),
    ("mongodb-srv-url", "mongodb+srv://svc-orders:{pw}@cluster0.ab1cd.mongodb.net/orders?retryWrites=true"),
    ("redis-url", "redis://:{pw}@redis-master.cache.svc:6379/0"),
    ("rediss-url", "rediss://default:{pw}@cache.example.net:25061"),
    ("amqp-url", "amqp://orders:{pw}@rabbitmq:5672/prod"),
    ("https-basic-url", "https://deploy-bot:{pw}@artifacts.example.net/repository/releases/"),
    ("git-credentials-url", "https://ci-user:{pw}@git.example.net"),
    ("jdbc-postgres-url", "jdbc:postgresql://db.internal:5432/orders?user=app&password={pw}"),
    ("jdbc-sqlserver-url", "jdbc:sqlserver://sql01.corp:1433;databaseName=erp;user=svc_erp;password={pw};"),
]


def _url(template: str) -> Callable[[random.Random, bool], str]:
    def make(rng: random.Random, decoy: bool) -> str:
        return template.replace("{pw}", _password(rng))

    return make


def _azure_connection(rng: random.Random, decoy: bool) -> str:
    key = render("{b64:86}==", rng)
    return (
        f"DefaultEndpointsProtocol=https;AccountName=orders;AccountKey={key};EndpointSuffix=core.windows.net"
    )


def families() -> list[Family]:
    found = [token(*spec) for spec in _TOKENS]
    found += [token(*spec, checksum=True) for spec in _CHECKSUMMED]
    found.append(Family("jwt", frozenset({"jwt"}), _jwt, checksum=True))
    found.append(Family("rsa-private-key", frozenset({"private-key"}), lambda rng, d: pem(rng)))
    found.append(
        Family("pkcs8-private-key", frozenset({"private-key"}), lambda rng, d: pem(rng, "PRIVATE KEY"))
    )
    found.append(
        Family(
            "openssh-private-key", frozenset({"private-key"}), lambda rng, d: pem(rng, "OPENSSH PRIVATE KEY")
        )
    )
    url_rules = frozenset({"url-credentials", "connection-string-password"})
    found += [Family(fid, url_rules, _url(t)) for fid, t in _URLS]
    found.append(
        Family("azure-storage-connection-string", frozenset({"azure-storage-key"}), _azure_connection)
    )
    return found


# Where a vector sits: setting name -> (file name, text around the vector).
def _yaml(v: str) -> tuple[str, str]:
    if "\n" in v:
        return "config/app.yaml", "service:\n  setting: |\n" + "".join(
            f"    {line}\n" for line in v.splitlines()
        )
    return "config/app.yaml", f"service:\n  replicas: 2\n  setting: {v}\n"


def _secret_data(v: str) -> tuple[str, str]:
    encoded = base64.b64encode(v.encode()).decode()
    doc = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\ndata:\n  setting: {encoded}\n"
    return "deploy/secret.yaml", doc


def _escaped(v: str) -> str:
    return v.replace("\n", "\\n")


SETTINGS: dict[str, Callable[[str], tuple[str, str]]] = {
    "yaml": _yaml,
    "secret-data": _secret_data,
    "env": lambda v: (".env", f"APP_ENV=production\nAPP_SETTING={_escaped(v)}\nAPP_PORT=8080\n"),
    "json": lambda v: (
        "config/app.json",
        json.dumps({"service": {"setting": v, "replicas": 2}}, indent=2) + "\n",
    ),
    "code": lambda v: (
        "src/client.py",
        f'import client\n\nCLIENT = client.Client("{_escaped(v)}", retries=3)\n',
    ),
    "url": lambda v: (
        "docs/call.sh",
        f"curl -s 'https://api.example.net/v1/items?x-setting={_escaped(v)}&page=2'\n",
    ),
    "long-line": lambda v: (
        "static/app.bundle.js",
        "var a="
        + json.dumps({f"k{i}": f"v{i:04d}" for i in range(300)})
        + f';var s="{_escaped(v)}";var b=1;\n',
    ),
}
# The URL setting puts a value in a URL query: a value that is itself a URL is not set there.
URL_FAMILIES_SKIP = frozenset({"url"})


def settings_for(family: Family) -> list[str]:
    if family.settings:
        return list(family.settings)
    names = list(SETTINGS)
    if family.id.endswith(("-url", "-webhook", "-connection-string")) or "-private-key" in family.id:
        names.remove("url")
    return names


def vector(family: Family, seed: int, decoy: bool = False) -> str:
    return family.make(random.Random(f"{family.id}/{seed}"), decoy)


# Credential files in their own formats: (id, file name, text, rules any of which must report it).
def credential_files(seed: int = 1) -> list[tuple[str, str, str, frozenset[str]]]:
    rng = random.Random(f"files/{seed}")
    pw, npm = _password(rng), render("npm_{b62:30}{crc}", rng)
    pypi = render("pypi-AgEIcHlwaS5vcmc{url:150}", rng)
    key_pem = pem(rng, "EC PRIVATE KEY", 120)
    basic = base64.b64encode(f"robot$deployer:{pw}".encode()).decode()
    sa = {
        "type": "service_account",
        "project_id": "orders-prod",
        "private_key_id": render("{hex:40}", rng),
        "private_key": pem(rng, "PRIVATE KEY") + "\n",
        "client_email": "deployer@orders-prod.iam.gserviceaccount.com",
    }
    kubeconfig_key = base64.b64encode(key_pem.encode()).decode()
    sa_token = _jwt(rng, False)
    htpasswd_apr = "$apr1$" + render("{b62:8}", rng) + "$" + render("{b62:22}", rng)
    htpasswd_bcrypt = "$2y$05$" + render("{b62:53}", rng)
    return [
        (
            "npmrc-token",
            ".npmrc",
            f"registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={npm}\n",
            frozenset({"npm-token"}),
        ),
        (
            "npmrc-auth",
            ".npmrc",
            f"always-auth=true\n_auth={basic}\nemail=ci@example.net\n",
            frozenset({"npmrc-credential"}),
        ),
        (
            "npmrc-private-token",
            "frontend/.npmrc",
            f"//npm.example.net/:_authToken={pw}\n",
            frozenset({"npmrc-credential"}),
        ),
        (
            "pypirc-token",
            ".pypirc",
            f"[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\npassword = {pypi}\n",
            frozenset({"pypi-token"}),
        ),
        (
            "pypirc-password",
            ".pypirc",
            f"[internal]\nrepository = https://pypi.example.net/\nusername = ci\npassword = {pw}\n",
            frozenset({"generic-secret-assignment", "pypirc-password"}),
        ),
        (
            "netrc",
            ".netrc",
            f"machine api.example.net\n  login deployer\n  password {pw}\n",
            frozenset({"netrc-password"}),
        ),
        (
            "netrc-one-line",
            "_netrc",
            f"machine git.example.net login ci password {pw}\n",
            frozenset({"netrc-password"}),
        ),
        (
            "git-credentials",
            ".git-credentials",
            f"https://ci-bot:{pw}@git.example.net\n",
            frozenset({"url-credentials"}),
        ),
        (
            "docker-config",
            ".docker/config.json",
            json.dumps({"auths": {"registry.example.net": {"auth": basic}}}, indent=2) + "\n",
            frozenset({"docker-config-auth"}),
        ),
        ("htpasswd-apr1", "ops/.htpasswd", f"admin:{htpasswd_apr}\n", frozenset({"htpasswd-hash"})),
        ("htpasswd-bcrypt", "ops/htpasswd", f"deploy:{htpasswd_bcrypt}\n", frozenset({"htpasswd-hash"})),
        (
            "gcp-service-account",
            "keys/orders-prod.json",
            json.dumps(sa, indent=2) + "\n",
            frozenset({"gcp-service-account-key", "private-key"}),
        ),
        (
            "kubeconfig-client-key",
            "clusters/prod.kubeconfig",
            "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n"
            f"    client-certificate-data: LS0tLS1CRUdJTiBDRVJU\n    client-key-data: {kubeconfig_key}\n",
            frozenset({"private-key"}),
        ),
        (
            "kubeconfig-token",
            "clusters/staging.kubeconfig",
            f"apiVersion: v1\nkind: Config\nusers:\n- name: deployer\n  user:\n    token: {sa_token}\n",
            frozenset({"jwt"}),
        ),
        (
            "kubeconfig-static-token",
            "clusters/dev.kubeconfig",
            f"apiVersion: v1\nkind: Config\nusers:\n- name: ops\n  user:\n    token: {pw}\n",
            frozenset({"generic-secret-assignment"}),
        ),
    ] + _secret_manifests(rng)


def _secret_manifests(rng: random.Random) -> list[tuple[str, str, str, frozenset[str]]]:
    """A Secret's base64 `data` in files of any type, as plain, literal (`|`) and folded (`>-`) scalars."""
    key = render("ghp_{b62:30}{crc}", rng)
    encoded = base64.b64encode(f"GITHUB_TOKEN={key}\nLOG_LEVEL=info\n".encode()).decode()
    wrapped = "\n".join(f"    {encoded[i : i + 20]}" for i in range(0, len(encoded), 20))
    head = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ci\ndata:\n"
    found = frozenset({"kubernetes-secret"})
    return [
        (
            "secret-in-markdown",
            "docs/setup.md",
            f"Apply this:\n\n```yaml\n{head}  env: {encoded}\n```\n",
            found,
        ),
        ("secret-literal-scalar", "deploy/ci-secret.txt", f"{head}  env: |\n{wrapped}\n", found),
        ("secret-folded-scalar", "deploy/ci-secret.tmpl", f"{head}  env: >-\n{wrapped}\n", found),
        (
            "secret-in-json",
            "deploy/ci-secret.json.example",
            json.dumps({"apiVersion": "v1", "kind": "Secret", "data": {"env": encoded}}) + "\n",
            found,
        ),
    ]


# Decoys beyond the wrong checksums: none of these may be flagged by any rule.
def decoys(seed: int = 1) -> list[tuple[str, str, str]]:
    rng = random.Random(f"decoys/{seed}")
    anon = base64.b64encode(b"deployer").decode()  # no colon: not user:password
    return [
        ("url-env-password", "config/app.yaml", "url: postgres://app:${DB_PASSWORD}@db:5432/orders\n"),
        ("url-placeholder", "README.md", "Set `DATABASE_URL=postgres://user:password@localhost:5432/app`.\n"),
        ("url-angle-placeholder", "README.md", "mongodb+srv://<user>:<password>@cluster0.example.net/\n"),
        (
            "url-no-password",
            "config/app.yaml",
            "cache: redis://redis-master:6379/0\nrepo: https://git.example.net/org/app.git\n",
        ),
        (
            "url-user-is-password",
            "docker-compose.yml",
            "DATABASE_URL: postgres://postgres:postgres@db:5432/app\n",
        ),
        (
            "url-template",
            "values.yaml",
            "url: 'amqp://{{ .Values.user }}:{{ .Values.password }}@rabbitmq:5672/'\n",
        ),
        (
            "docker-auth-no-colon",
            "config.json",
            json.dumps({"auths": {"r.example.net": {"auth": anon}}}) + "\n",
        ),
        ("docker-auth-empty", "config.json", '{"auths": {"r.example.net": {"auth": ""}}}\n'),
        (
            "netrc-elsewhere",
            "docs/notes.txt",
            "machine api.example.net login deployer password from the vault\n",
        ),
        ("aws-doc-example", "docs/aws.md", "aws_access_key_id = AKIA" + "IOSFODNN7" + "EXAMPLE\n"),
        ("gitlab-placeholder", "docs/ci.md", "token: glpat-" + "x" * 20 + "\n"),
        ("stripe-placeholder", "docs/pay.md", "STRIPE_KEY=sk_live_" + "x" * 24 + "\n"),
        (
            "uuid",
            "config/app.yaml",
            f"request_id: {render('{hex:8}-{hex:4}-{hex:4}-{hex:4}-{hex:12}', rng)}\n",
        ),
        ("sha-digest", "config/app.yaml", f"image: app@sha256:{render('{hex:64}', rng)}\n"),
        ("git-sha", "CHANGELOG.md", f"Fixed in commit {render('{hex:40}', rng)}.\n"),
        ("telegram-like-time", "docs/log.txt", "12:30 at 2024-01-01 1700000000:AAAA\n"),
        (
            "public-cert",
            "certs/ca.yaml",
            "ca.crt: |\n" + "".join(f"  {line}\n" for line in pem(rng, "CERTIFICATE").splitlines()),
        ),
    ]
