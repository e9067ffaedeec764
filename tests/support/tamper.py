"""Changing a key record behind sealer's back, as a DBA, the Auth0 dashboard or another Vault
client would: each store written with its own means (SQL, the DynamoDB API, the fake servers'
state), never through sealer's store classes, so drift detection is tested against writes sealer
did not make."""

from __future__ import annotations

import json
from typing import Any

import pytest

from support.backend_repos import ENV, Backend


def tamper(request: pytest.FixtureRequest, backend: Backend, key_id: str, **fields: str | None) -> None:
    """Set `fields` (status, revoke_at, expires, fingerprint; ISO times as the ledger writes
    them) of `key_id`'s record in `backend`'s store."""
    {"postgres": _postgres, "dynamodb": _dynamodb, "vault": _vault, "auth0": _auth0}[backend.kind](
        request, backend.options, key_id, fields
    )


def _postgres(
    request: pytest.FixtureRequest, options: dict[str, str], key_id: str, fields: dict[str, Any]
) -> None:
    import psycopg
    from psycopg import sql

    table = sql.Identifier(options["schema"], options["table"])
    sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in fields)
    with psycopg.connect() as conn:  # the libpq environment the fixture set: the DBA's session
        done = conn.execute(
            sql.SQL("UPDATE {} SET {} WHERE env = %s AND key_id = %s").format(table, sets),
            [*fields.values(), ENV, key_id],
        )
        assert done.rowcount == 1


def _dynamodb(
    request: pytest.FixtureRequest, options: dict[str, str], key_id: str, fields: dict[str, Any]
) -> None:
    import boto3

    client = boto3.client("dynamodb", region_name=options["region"], endpoint_url=options["endpoint_url"])
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":v{i}": {"S": value} for i, value in enumerate(fields.values()) if value is not None}
    sets = [f"#f{i} = :v{i}" for i, value in enumerate(fields.values()) if value is not None]
    removes = [f"#f{i}" for i, value in enumerate(fields.values()) if value is None]
    expression = " ".join(
        part
        for part in (
            "SET " + ", ".join(sets) if sets else "",
            "REMOVE " + ", ".join(removes) if removes else "",
        )
        if part
    )
    client.update_item(
        TableName=options["table"],
        Key={"pk": {"S": ENV}, "sk": {"S": f"key#{key_id}"}},
        UpdateExpression=expression,
        ExpressionAttributeNames=names,
        **({"ExpressionAttributeValues": values} if values else {}),
        ConditionExpression="attribute_exists(pk)",
    )


def _changed(records: list[dict[str, Any]], key_id: str, fields: dict[str, Any]) -> list[dict[str, Any]]:
    assert any(r["key_id"] == key_id for r in records), key_id
    return [{**r, **fields} if r["key_id"] == key_id else r for r in records]


def _vault(
    request: pytest.FixtureRequest, options: dict[str, str], key_id: str, fields: dict[str, Any]
) -> None:
    vault = request.getfixturevalue("vault_env")
    path = f"{options['path']}/{ENV}"
    data = vault.read_direct(options["mount"], path)
    vault.write_direct(options["mount"], path, {**data, "records": _changed(data["records"], key_id, fields)})


def _auth0(
    request: pytest.FixtureRequest, options: dict[str, str], key_id: str, fields: dict[str, Any]
) -> None:
    auth0 = request.getfixturevalue("auth0_env")
    with auth0.lock:  # the dashboard's edit of the user's app_metadata
        metadata = auth0.users[options["user_id"]]["app_metadata"]
        doc = metadata["sealer_keys"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        metadata["sealer_keys"] = {**doc, "records": _changed(doc["records"], key_id, fields)}
