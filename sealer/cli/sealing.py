"""`sealer seal`, `sealer unseal` and `sealer validate`."""

from __future__ import annotations

import sys
from typing import Any

import click

from sealer.cli.common import emit, output_option, read_input
from sealer.errors import BadInput, ConflictingOptions

PATH = click.Path(dir_okay=False)
MAX_RAW_VALUE = 1024 * 1024  # the API server's limit for a whole Secret
format_option = click.option(
    "-o",
    "--output",
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default=None,
    help="Manifest format [default: json for a -w file ending in .json, else yaml].",
)
cert_option = click.option(
    "--cert",
    "cert_spec",
    required=True,
    envvar="SEALED_SECRETS_CERT",
    show_envvar=True,
    metavar="FILE|URL",
    help="Controller certificate (PEM): a file or an https:// URL.",
)
pin_option = click.option(
    "--cert-sha256",
    "pin",
    default=None,
    metavar="HEX",
    help="Refuse the certificate unless its SHA-256 is this (as `sealer cert show` prints it).",
)


def _sealer(cert_spec: str, pin: str | None) -> Any:
    from sealer import certsource
    from sealer.sealing import CertSealer

    pin = certsource.parse_pin(pin) if pin else None  # a usage mistake fails before any fetch
    sealer = CertSealer.from_pem(certsource.read(cert_spec), certsource.shown(cert_spec))
    certsource.check_pin(sealer.fingerprint, pin, cert_spec)
    return sealer


def _manifest_format(fmt: str | None, write_to: str | None) -> str:
    """-o wins; a -w file ending in .json means JSON; else YAML. A contradiction is refused."""
    by_name = "json" if write_to and write_to.lower().endswith(".json") else None
    if fmt and by_name and fmt != by_name:
        raise BadInput(f"-o {fmt} but {write_to} ends in .json: leave out -o or rename the file")
    return fmt or by_name or "yaml"


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
    from sealer import repofiles, yamlio
    from sealer.scope import scope_of
    from sealer.sealing import check_sealed_secret, merge_into

    if len(specs) != 1:
        raise BadInput("--merge-into takes exactly one Secret")
    text = _text(read_input(target), target)  # user_path: see read_input
    doc = yamlio.round_trip_load(text, target)
    existing = scope_of(check_sealed_secret(doc, target)["metadata"].get("annotations"))
    if scope and scope != existing.value:
        raise BadInput(f"{target} is sealed {existing.value}; --scope {scope} cannot be merged into it")
    changes = merge_into(doc, specs[0], sealer, target)
    merged = yamlio.round_trip_edited(doc, text, target, changes)  # what it did not mean to change, kept
    repofiles.write(target, merged, user_path=True)  # keeps its mode and line endings


def _stdin_value() -> bytes:
    """The value for --raw, from stdin as it is (no newline stripped: use printf, not echo)."""
    if sys.stdin.isatty():
        raise BadInput("--raw without --from-literal/--from-file/-f reads the value from stdin: pipe it in")
    value = sys.stdin.buffer.read(MAX_RAW_VALUE + 1)
    if len(value) > MAX_RAW_VALUE:
        raise BadInput(f"<stdin>: value is larger than {MAX_RAW_VALUE // 1024} KiB")
    return value


def _raw(
    file: str | None,
    name: str,
    namespace: str,
    literals: tuple[str, ...],
    files: tuple[str, ...],
    scope: str | None,
    allow_empty: bool,
    sealer: Any,
) -> dict[str, Any]:
    """kubeseal --raw: one value from an entry, a one-entry manifest (-f), or stdin; the value
    sealed, with the scope and what of namespace and name its label binds it to (else None)."""
    from sealer import secret
    from sealer.scope import Scope, scope_of
    from sealer.sealing import seal_raw

    chosen = Scope(scope or "strict")
    if len(literals) + len(files) > 1:
        raise BadInput("--raw seals exactly one value: give one --from-literal or --from-file")
    if literals or files:
        value = (secret.parse_literal(literals[0]) if literals else secret.parse_file_entry(files[0]))[1]
    elif file is None:
        value = _stdin_value()
    else:
        specs = _input_specs(file, name, namespace, (), (), "Opaque")
        if len(specs) != 1 or len(specs[0].data) != 1:
            raise BadInput("--raw seals exactly one value: give one --from-literal or --from-file")
        name, namespace, value = specs[0].name, specs[0].namespace, next(iter(specs[0].data.values()))
        chosen = Scope(scope) if scope else scope_of(specs[0].annotations)
    if not value and not allow_empty:
        # Most likely an unset variable in `printf %s "$VALUE"`.
        raise BadInput("--raw: the value is empty (pass --allow-empty-data to seal it anyway)")
    encrypted = seal_raw(sealer, chosen, namespace, name, value)
    return {
        "encrypted": encrypted,
        "scope": chosen.value,
        "namespace": namespace if chosen is not Scope.CLUSTER_WIDE else None,
        "name": name if chosen is Scope.STRICT else None,
        "cert_sha256": sealer.fingerprint,
    }


@click.command()
@click.option(
    "-f",
    "--file",
    "file",
    default=None,
    help="Secret manifest(s); - is stdin [default: -; with --raw and no entry, stdin is the value].",
)
@cert_option
@pin_option
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
@click.option(
    "--raw",
    is_flag=True,
    help="Print one sealed value only (for Helm values); with no entry and no -f, the value is stdin. "
    "With -o json: an object holding it (encrypted), its scope, namespace and name, and the "
    "certificate's SHA-256 (cert_sha256).",
)
@click.option("--allow-empty-data", is_flag=True, help="Seal a Secret that has no data (refused otherwise).")
@click.option(
    "--merge-into",
    "merge_target",
    type=PATH,
    help="Add or replace entries of this SealedSecret file in place.",
)
def seal(
    file: str | None,
    cert_spec: str,
    pin: str | None,
    name: str,
    namespace: str,
    type_: str,
    literals: tuple[str, ...],
    files: tuple[str, ...],
    scope: str | None,
    fmt: str | None,
    write_to: str | None,
    raw: bool,
    allow_empty_data: bool,
    merge_target: str | None,
) -> int:
    """Seal Secrets with a controller certificate, offline, in kubeseal's format."""
    import json

    from sealer import repofiles, secret
    from sealer.scope import Scope, scope_of
    from sealer.sealing import sealed_secret

    if merge_target and (write_to or raw):
        raise ConflictingOptions("--merge-into edits its file in place: leave out -w/--write and --raw")
    fmt = _manifest_format(fmt, None if raw else write_to)
    sealer = _sealer(cert_spec, pin)
    if raw:
        sealed = _raw(file, name, namespace, literals, files, scope, allow_empty_data, sealer)
        # Bare base64 as kubeseal --raw prints it; with -o json, an object as every pipeline prints.
        text = (json.dumps(sealed, indent=2, sort_keys=True) if fmt == "json" else sealed["encrypted"]) + "\n"
    else:
        specs = _input_specs(file or "-", name, namespace, literals, files, type_)
        if not allow_empty_data:
            secret.refuse_empty(specs, _source(file or "-"))
        if merge_target:
            _merge(merge_target, specs, sealer, scope)
            return 0
        chosen = [Scope(scope) if scope else scope_of(s.annotations) for s in specs]
        text = _render([sealed_secret(s, sealer, c) for s, c in zip(specs, chosen, strict=True)], fmt)
    if write_to:
        repofiles.write(write_to, text, user_path=True)
    else:
        click.echo(text, nl=False)
    return 0


def _key_paths(given: tuple[str, ...]) -> list[str]:
    """--key a.key,b.key as well as --key a.key --key b.key, as kubeseal's --recovery-private-key."""
    import os

    # A file whose name holds a comma still works as it did.
    paths = [part.strip() for item in given for part in ([item] if os.path.isfile(item) else item.split(","))]
    if any(not path for path in paths):
        raise BadInput("--key takes file names, comma-separated or repeated: an empty one was given")
    return paths


@click.command()
@click.option(
    "-f", "--file", "file", default="-", show_default=True, help="SealedSecret manifest(s); - is stdin."
)
@click.option(
    "--key",
    "key_paths",
    multiple=True,
    required=True,
    metavar="FILE[,FILE…]",
    help="Private key: PEM, key Secret manifest, or a v1 List of them (repeatable, or comma-separated).",
)
@format_option
def unseal(file: str, key_paths: tuple[str, ...], fmt: str | None) -> int:
    """Recovery: print the Secrets inside SealedSecrets, using the controller's private keys."""
    from sealer import secret
    from sealer.unseal import load_private_keys
    from sealer.unseal import unseal as open_sealed

    keys = [k for path in _key_paths(key_paths) for k in load_private_keys(path)]
    source = _source(file)
    opened = [secret.to_manifest(open_sealed(doc, keys, source)) for doc in _sealed_documents(file)]
    click.echo(_render(opened, fmt or "yaml"), nl=False)
    return 0


@click.command()
@click.option("-f", "--file", "file", required=True, help="SealedSecret manifest(s); - is stdin.")
@click.option(
    "--cert",
    "cert_specs",
    multiple=True,
    required=True,
    envvar="SEALED_SECRETS_CERT",
    show_envvar=True,
    metavar="FILE|URL",
    help="Controller certificate (PEM): a file or an https:// URL. Repeat it for every certificate "
    "the controller holds: an entry may be sealed with any of them.",
)
@click.option(
    "--cert-sha256",
    "pins",
    multiple=True,
    metavar="HEX",
    help="Refuse a certificate unless its SHA-256 is one of these (repeatable).",
)
@click.option(
    "--key",
    "key_paths",
    multiple=True,
    metavar="FILE[,FILE…]",
    help="Also check every entry decrypts with this key (repeatable, or comma-separated).",
)
@output_option
def validate(
    file: str, cert_specs: tuple[str, ...], pins: tuple[str, ...], key_paths: tuple[str, ...], output: str
) -> int:
    """Check a SealedSecret offline; exit 1 with one line per problem."""
    from sealer import certsource
    from sealer.unseal import load_private_keys
    from sealer.validate import problems

    wanted = {certsource.parse_pin(p) for p in pins}  # a usage mistake fails before any fetch
    sealers = [_validation_sealer(spec, wanted) for spec in cert_specs]
    keys = [k for path in _key_paths(key_paths) for k in load_private_keys(path)]
    source = _source(file)
    docs = _sealed_documents(file)
    found = [f"{source}: {p}" for doc in docs for p in problems(doc, sealers, keys, source)]
    entries = sum(len((d.get("spec") or {}).get("encryptedData") or {}) for d in docs)
    emit(
        {"ok": not found, "problems": found, "documents": len(docs), "entries": entries},
        output,
        "\n".join(found) if found else f"ok: {len(docs)} SealedSecret(s), {entries} entries",
    )
    return 1 if found else 0


def _validation_sealer(spec: str, pins: set[str]) -> Any:
    from sealer import certs, certsource
    from sealer.sealing import CertSealer

    shown = certsource.shown(spec)
    cert = certs.parse_certificate(certsource.read(spec), shown)
    fingerprint = certs.fingerprint(cert)
    if pins and fingerprint not in pins:
        certsource.check_pin(fingerprint, sorted(pins)[0], spec)  # one line: which it is, which was pinned
    # An expired certificate still tells what was sealed for it.
    return CertSealer(certs.rsa_public_key(cert, shown), fingerprint)


COMMANDS = [seal, unseal, validate]
