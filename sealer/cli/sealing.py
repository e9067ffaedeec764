"""`sealer seal`, `sealer unseal` and `sealer validate`."""

from __future__ import annotations

from typing import Any

import click

from sealer.cli.common import emit, output_choice, output_option, read_input
from sealer.errors import BadInput

PATH = click.Path(dir_okay=False)
format_option = output_choice(["yaml", "json"], "Manifest format.", dest="fmt")


def _sealer(cert_path: str) -> Any:
    from sealer import certs
    from sealer.sealing import Sealer

    return Sealer.from_pem(certs.read_bytes(cert_path, "certificate"), cert_path)


def _render(docs: list[dict[str, Any]], fmt: str) -> str:
    from sealer import yamlio

    return yamlio.dump_json(docs) if fmt == "json" else yamlio.dump_documents(docs)


def _source(file: str) -> str:
    return "<stdin>" if file == "-" else file


def _sealed_documents(file: str) -> list[Any]:
    """The documents of `file`, a v1 List counting as its items (`kubectl get … -o yaml`)."""
    from sealer import yamlio

    source = _source(file)
    docs = yamlio.load_documents(read_input(file), source)
    docs = [item for doc in docs for item in _list_items(doc)]
    if not docs:
        raise BadInput(f"{source}: no SealedSecret found")
    return docs


def _list_items(doc: Any) -> list[Any]:
    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        return list(doc["items"])
    return [doc]


def _input_specs(
    file: str, name: str, namespace: str, literals: tuple[str, ...], files: tuple[str, ...], type_: str
) -> list[Any]:
    from sealer import secret, yamlio

    if literals or files:
        return [secret.from_entries(name, namespace, literals, files, type_)]
    source = _source(file)
    return secret.from_documents(yamlio.load_documents(read_input(file), source), source, namespace)


def _text(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{source}: not UTF-8 text") from None


def _merge(target: str, specs: list[Any], sealer: Any, scope: str | None) -> None:
    """Merge into `target` in place, keeping its mode; any refusal leaves it untouched."""
    import os

    from sealer import yamlio
    from sealer.atomic import write_atomic
    from sealer.scope import scope_of
    from sealer.sealing import check_sealed_secret, merge_into

    if len(specs) != 1:
        raise BadInput("--merge-into takes exactly one Secret")
    doc = yamlio.round_trip_load(_text(read_input(target), target), target)
    existing = scope_of(check_sealed_secret(doc, target)["metadata"].get("annotations"))
    if scope and scope != existing.value:
        raise BadInput(f"{target} is sealed {existing.value}; --scope {scope} cannot be merged into it")
    merge_into(doc, specs[0], sealer, target)
    write_atomic(target, yamlio.round_trip_dump(doc), os.stat(target).st_mode & 0o777)


def _raw(specs: list[Any], sealer: Any, scope: Any) -> str:
    if len(specs) != 1 or len(specs[0].data) != 1:
        raise BadInput("--raw seals exactly one value: give one --from-literal or --from-file")
    spec = specs[0]
    return str(sealer.seal_values(scope, spec.namespace, spec.name, list(spec.data.values()))[0])


@click.command()
@click.option("-f", "--file", "file", default="-", show_default=True, help="Secret manifest(s); - is stdin.")
@click.option("--cert", "cert_path", required=True, type=PATH, help="Controller certificate (PEM).")
@click.option("--name", default="", help="Secret name (with --from-literal/--from-file, --raw).")
@click.option("--namespace", "-n", default="", help="Secret namespace, where the manifest has none.")
@click.option(
    "--type", "type_", default="Opaque", show_default=True, help="Secret type for --from-literal/--from-file."
)
@click.option("--from-literal", "literals", multiple=True, metavar="KEY=VALUE", help="An entry (repeatable).")
@click.option(
    "--from-file", "files", multiple=True, metavar="KEY=PATH", help="An entry from a file (repeatable)."
)
@click.option(
    "--scope",
    type=click.Choice(["strict", "namespace-wide", "cluster-wide"]),
    default=None,
    help="Sealing scope [default: the Secret's scope annotations, else strict].",
)
@format_option
@click.option("-w", "--write", "write_to", type=PATH, help="Write here (atomically) instead of stdout.")
@click.option("--raw", is_flag=True, help="Print one sealed value only (for Helm values).")
@click.option(
    "--merge-into",
    "merge_target",
    type=PATH,
    help="Add or replace entries of this SealedSecret file in place.",
)
def seal(
    file: str,
    cert_path: str,
    name: str,
    namespace: str,
    type_: str,
    literals: tuple[str, ...],
    files: tuple[str, ...],
    scope: str | None,
    fmt: str,
    write_to: str | None,
    raw: bool,
    merge_target: str | None,
) -> int:
    """Seal Secrets with a controller certificate, offline, in kubeseal's format."""
    from sealer.atomic import write_atomic
    from sealer.scope import Scope, scope_of
    from sealer.sealing import sealed_secret

    if merge_target and (write_to or raw):
        raise BadInput("--merge-into edits its file in place: leave out -w/--write and --raw")
    sealer = _sealer(cert_path)
    specs = _input_specs(file, name, namespace, literals, files, type_)
    if merge_target:
        _merge(merge_target, specs, sealer, scope)
        return 0
    chosen = [Scope(scope) if scope else scope_of(s.annotations) for s in specs]
    if raw:
        text = _raw(specs, sealer, chosen[0]) + "\n"
    else:
        text = _render([sealed_secret(s, sealer, c) for s, c in zip(specs, chosen, strict=True)], fmt)
    if write_to:
        write_atomic(write_to, text)
    else:
        click.echo(text, nl=False)
    return 0


@click.command()
@click.option(
    "-f", "--file", "file", default="-", show_default=True, help="SealedSecret manifest(s); - is stdin."
)
@click.option(
    "--key",
    "key_paths",
    multiple=True,
    required=True,
    type=PATH,
    help="Private key: PEM, key Secret manifest, or a v1 List of them (repeatable).",
)
@format_option
def unseal(file: str, key_paths: tuple[str, ...], fmt: str) -> int:
    """Recovery: print the Secrets inside SealedSecrets, using the controller's private keys."""
    from sealer import secret
    from sealer.unseal import load_private_keys
    from sealer.unseal import unseal as open_sealed

    keys = [k for path in key_paths for k in load_private_keys(path)]
    source = _source(file)
    opened = [secret.to_manifest(open_sealed(doc, keys, source)) for doc in _sealed_documents(file)]
    click.echo(_render(opened, fmt), nl=False)
    return 0


@click.command()
@click.option("-f", "--file", "file", required=True, help="SealedSecret manifest(s); - is stdin.")
@click.option("--cert", "cert_path", required=True, type=PATH, help="Certificate it should be sealed for.")
@click.option(
    "--key",
    "key_paths",
    multiple=True,
    type=PATH,
    help="Also check every entry decrypts with this key (repeatable).",
)
@output_option
def validate(file: str, cert_path: str, key_paths: tuple[str, ...], output: str) -> int:
    """Check a SealedSecret offline; exit 1 with one line per problem."""
    from sealer import certs
    from sealer.sealing import Sealer
    from sealer.unseal import load_private_keys
    from sealer.validate import problems

    cert = certs.load_certificate(cert_path)
    # An expired certificate still tells what was sealed for it.
    sealer = Sealer(certs.rsa_public_key(cert, cert_path), certs.fingerprint(cert))
    keys = [k for path in key_paths for k in load_private_keys(path)]
    source = _source(file)
    docs = _sealed_documents(file)
    found = [f"{source}: {p}" for doc in docs for p in problems(doc, sealer, keys, source)]
    entries = sum(len((d.get("spec") or {}).get("encryptedData") or {}) for d in docs)
    emit(
        {"ok": not found, "problems": found, "documents": len(docs), "entries": entries},
        output,
        "\n".join(found) if found else f"ok: {len(docs)} SealedSecret(s), {entries} entries",
    )
    return 1 if found else 0


COMMANDS = [seal, unseal, validate]
