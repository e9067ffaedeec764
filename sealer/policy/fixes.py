"""The fixes problems suggest, spelled once: the exact `sealer` commands to run."""

from __future__ import annotations


def rotate(env: str, key: str | None = None) -> str:
    return f"sealer rotate {env}" + (f" --key {key}" if key else "")


def rotate_due() -> str:
    return "sealer rotate --due"


def cert_add(env: str, cluster: str, file: str = "tls.crt") -> str:
    return f"sealer cert add {env} --file {file}" + ("" if cluster == env else f" --cluster {cluster}")


def cert_remove(env: str, cluster: str, fingerprint: str) -> str:
    where = "" if cluster == env else f" --cluster {cluster}"
    return f"sealer cert remove {env} {fingerprint[:16]}{where}"


def revoke(env: str, key_id: str, grace_hours: int = 0) -> str:
    return f"sealer keys revoke {env} {key_id}" + (f" --grace {grace_hours}h" if grace_hours > 0 else "")


def edit_then_rotate(env: str, setting: str, value: str) -> str:
    """A sealer.yaml setting that changes what the ciphertext is bound to: reseal after it."""
    return f"set environments.{env}.{setting}: {value} in sealer.yaml, then run `{rotate(env)}`"


def cert_fetch(env: str, cluster: str) -> str:
    return f"sealer cert fetch {env}" + ("" if cluster == env else f" --cluster {cluster}") + " --accept"
