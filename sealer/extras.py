"""Optional client libraries: one line telling what to install when one is missing.

The key stores and the commands that talk to a cluster need libraries that only their
extra installs (`pip install 'sealer[postgres]'`); without it, they say so instead of
failing deep inside with an ImportError.
"""

from __future__ import annotations

import importlib

from sealer.errors import MissingExtra

# feature -> (what needs it, the module to import, the pip distribution, the sealer extra)
EXTRAS: dict[str, tuple[str, str, str, str]] = {
    "postgres": ("the postgres key store", "psycopg", "psycopg", "postgres"),
    "dynamodb": ("the dynamodb key store", "boto3", "boto3", "aws"),
    "vault": ("the vault key store", "hvac", "hvac", "vault"),
    "vault-escrow": ("a vault backup of a controller key", "hvac", "hvac", "vault"),
    "auth0": ("the auth0 key store", "auth0", "auth0-python", "auth0"),
    "kubernetes": ("talking to a cluster (status, cert fetch)", "kubernetes", "kubernetes", "k8s"),
}


def require(feature: str) -> None:
    """Import `feature`'s library, or raise one line naming the extra that installs it."""
    what, module, dist, extra = EXTRAS[feature]
    try:
        importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{what} needs {dist}: pip install 'sealer[{extra}]'") from None
