"""README promises, tested as contracts through the real CLI.

- Every command of the README's command table exists and takes `-o json` (asked of its `-h`).
- A usage error is bad input like any other: exit 2 and one `sealer:` line, no usage block.
- A pipeline command that refuses its input exits 2 with one line and changes nothing: the
  work tree's files, every ref, HEAD, the index and sealer's files in the git directory are the
  same after; so with a command that has nothing to do (exit 0), Ctrl-C before the point of no
  return (exit 130), a missing extra or credential variable (exit 2).
- `-o json` carries the fields the README names (review findings, status drift; `rule`); every
  review output redacts a key.
- A tired operator: a lock that cannot be taken (a read-only checkout), another worktree of the
  repo, a sub-folder, a repo below the top of a work tree, a folder name that is not UTF-8, a
  dry run with an interrupted run left, git not installed.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from support.cli import Run, assert_one_line_error, sealer, sealer_without
from support.env_repos import Controllers, run_main, snapshot, unseal_values
from support.fake_kube import FakeKube
from support.git import commit_all, git, init_repo
from support.repos import at_point, ledger_records, load_yaml

from sealer import apikey, config, ledger, lock
from sealer.cli import cli
from sealer.records import REVOKED

README = Path(__file__).resolve().parents[2] / "README.md"
WITHOUT_OUTPUT = {"completion", "diff-driver"}  # README: a shell script and git's textconv


def readme_spellings() -> list[str]:
    """How the README's command table spells each command: the lowercase words each `sealer …`
    of its first column starts with (`cert add ENV` gives `cert add`, `ci init github|gitlab`
    gives `ci init github`; `command_name` tells the command from its arguments)."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| command | does |") :]
    table = table[: table.index("\n\n")]
    spelled: set[str] = set()
    for row in table.splitlines()[2:]:
        for code in re.findall(r"`(?:sealer )?([a-z][^`]*)`", row.split(" | ")[0]):
            words = re.match(r"[a-z][a-z-]*(?: [a-z][a-z-]*)*", code)
            assert words, code
            spelled.add(words.group())
    return sorted(spelled)


def command_name(spelled: str) -> tuple[str, click.Command]:
    """The command `spelled` names: click's groups descended while a word names a subcommand."""
    path: list[str] = []
    command: click.Command = cli
    for word in spelled.split():
        sub = command.get_command(click.Context(command), word) if isinstance(command, click.Group) else None
        if sub is None:
            break
        path, command = [*path, word], sub
    return " ".join(path), command


def every_command(group: click.Group = cli, prefix: str = "") -> set[str]:
    ctx = click.Context(group)
    names: set[str] = set()
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        names |= (
            every_command(command, f"{prefix}{name} ")
            if isinstance(command, click.Group)
            else {prefix + name}
        )
    return names


def test_the_readme_table_lists_every_command() -> None:
    """Each command sealer has is in the README's table, but `diff-driver` (git's textconv,
    described below the table); a guard for the parser too."""
    listed = {command_name(spelled)[0] for spelled in readme_spellings()}
    assert every_command() - {"diff-driver"} <= listed, every_command() - listed


def every_option(group: click.Group = cli, prefix: str = "") -> dict[str, list[list[str]]]:
    """Each command's options (`cert add` → its spellings, `--cluster`, `-o`/`--output`/…),
    hidden ones and `-h` left out."""
    ctx = click.Context(group)
    options: dict[str, list[list[str]]] = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            options |= every_option(command, f"{prefix}{name} ")
        elif command is not None:
            options[prefix + name] = [
                [*p.opts, *p.secondary_opts]
                for p in command.params
                if isinstance(p, click.Option) and not p.hidden and "--help" not in p.opts
            ]
    return options


def test_every_option_a_commands_help_lists_is_in_the_readme() -> None:
    """An option `-h` shows is spelt somewhere in the README (any of its spellings: `-n` for
    `--namespace`), so a reader of the README alone can find it; `--cluster` was not."""
    text = README.read_text(encoding="utf-8")
    missing = [
        f"{name} {spellings[0]}"
        for name, options in every_option().items()
        for spellings in options
        if not any(re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", text) for s in spellings)
    ]
    assert missing == []


@pytest.mark.parametrize("spelled", readme_spellings())
def test_every_readme_command_exists_and_takes_output_json(spelled: str) -> None:
    """README: "Every command takes `-h`" and, but `completion` and `diff-driver`, `-o json`:
    `sealer NAME -h` lists `-o, --output, --format` with json among its choices."""
    name, command = command_name(spelled)
    assert name and not isinstance(command, click.Group), f"the README names no command: {spelled}"
    result = CliRunner().invoke(cli, [*name.split(), "-h"])
    assert result.exit_code == 0, (name, result.output)
    choices = re.search(r"-o, --output, --format \[([a-z|]+)\]", result.stdout)
    if name.split()[0] in WITHOUT_OUTPUT:
        assert choices is None, name
    else:
        assert choices and "json" in choices.group(1).split("|"), (name, result.stdout)


def readme_table_row(command: str) -> list[str]:
    """The spellings the first column of `command`'s row of the command table gives."""
    text = README.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith(f"| `sealer {command}"))
    return re.findall(r"`(?:sealer )?([a-z][^`]*)`", row.split(" | ")[0])


def test_scan_runs_as_the_readme_table_spells_it(rotated: Path) -> None:
    """A newcomer copies the table's `sealer scan`: each spelling given is one that runs (a bare
    `sealer scan` is a usage error: it names no files to scan)."""
    spellings = readme_table_row("scan")
    assert spellings
    for spelled in spellings:
        words = spelled.replace("PATH…", "sealer.yaml").replace("[RANGE]", "HEAD").split()
        result = sealer(rotated, *words)
        assert result.exit_code == 0, (spelled, result.output)


def test_the_lifecycle_counts_grace_from_where_review_says(rotated: Path) -> None:
    """README's lifecycle (step 4) says where `--grace` is counted from as review tells the
    reviewer: with the default Git ledger, from the rotation (not the deployment)."""
    assert sealer(rotated, "rotate", "staging", "--grace", "24h", "--branch", "graced").exit_code == 0
    review = json.loads(sealer(rotated, "review", "main", "graced", "-o", "json").stdout)
    [change] = review["changes"]
    text = " ".join(README.read_text(encoding="utf-8").split())
    step = text[text.index("The old key is revoked at once, or after `--grace 24h`") :]
    step = step[: step.index("(see")]
    assert f"counted from the {change['grace_counted_from']} with the default Git ledger" in step, step


def test_the_pull_request_description_is_where_the_readme_says(rotated: Path) -> None:
    """README (pull requests): the description is `.sealer/out/<branch>.md`, each `/` of the
    branch a `-`, and `-o json` names it in `pr_body_file`."""
    data = json.loads(sealer(rotated, "rotate", "staging", "-o", "json").stdout)
    text = " ".join(README.read_text(encoding="utf-8").split())
    [example] = re.findall(r"each `/` of the branch a `-`: `(sealer-rotate-staging-<utc time>\.md)`", text)
    stem = data["branch"].replace("/", "-")
    assert re.fullmatch(r"sealer-rotate-staging-\d{8}T\d{6}Z", stem), stem
    assert Path(data["pr_body_file"]) == rotated / ".sealer" / "out" / f"{stem}.md"
    assert Path(data["pr_body_file"]).is_file() and example.startswith("sealer-rotate-staging-")


def test_the_chart_is_where_the_lifecycle_says(tmp_path: Path) -> None:
    """The lifecycle (step 3) tells a user of an installed sealer where its chart is: the command
    it gives prints a folder holding the chart, out of a folder of no repository."""
    text = " ".join(README.read_text(encoding="utf-8").split())
    step = text[text.index("The chart is sealer's `chart/`") :]
    [command] = re.findall(r"`python -c '([^']+)'`", step[: step.index("4. **Rotate.**")])
    done = subprocess.run([sys.executable, "-c", command], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    chart = Path(done.stdout.strip())
    assert (chart / "Chart.yaml").is_file() and (chart / "values.schema.json").is_file(), chart


def readme_exit_1_commands() -> list[str]:
    """The commands the README's exit-code table names for exit 1 (`validate`, `keys verify`, …)."""
    text = README.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| 1 | findings"))
    return sorted({command_name(code)[0] for code in re.findall(r"`([a-z][a-z -]*[a-z])`", row)})


@pytest.mark.parametrize("name", readme_exit_1_commands())
def test_each_command_the_readme_gives_exit_1_says_so_in_its_help(name: str) -> None:
    """README: exit 1 for "findings, or a check failed (`validate`, `scan`, …)": the command's own
    `-h` says when, for someone who reads no README."""
    result = CliRunner().invoke(cli, [*name.split(), "-h"])
    said = " ".join(result.stdout.split("Options:")[0].split())
    assert re.search(r"\b[Ee]xit 1\b", said), (name, said)


def test_each_check_rule_list_rules_omits_has_a_readme_paragraph() -> None:
    """README: `--list-rules` lists the policy rules; each other rule `check` reports (a
    newcomer's `untracked-file`, say) starts a paragraph of its own saying what fixes it."""
    from sealer.policy import casefold, certfolder, leftovers, unheld

    others = [
        leftovers.DELETED_RULE,
        unheld.UNTRACKED_RULE,
        unheld.IGNORED_RULE,
        unheld.UNWATCHED_RULE,
        leftovers.SUBMODULE_RULE,
        certfolder.RULE,
        casefold.RULE,
    ]
    text = README.read_text(encoding="utf-8")
    assert [rule for rule in others if f"\n\nNor is `{rule}`" not in text] == []


def test_check_says_its_fix_lines_run_from_the_repositorys_top() -> None:
    """A fix line names paths from the top (`git reset -q -- deploy/staging/values.yaml`),
    though check runs from any folder below: its `-h` and the README both say where to run it."""
    said = " ".join(CliRunner().invoke(cli, ["check", "-h"]).stdout.split())
    assert "a fix line's paths are from the repository's top: run it there" in said
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "a `fix:` line (`fix` in `-o json`) whose paths are from the repository's top" in text


@pytest.mark.parametrize(
    ("args", "says", "help_of"),
    [
        (["rotate", "--no-such-option"], "No such option '--no-such-option'", "sealer rotate"),
        (["status"], "Missing argument 'ENV'", "sealer status"),
        (["keys", "revoke", "staging"], "Missing argument 'KEY_ID'", "sealer keys revoke"),
        (["rotate", "-o", "xml"], "'xml' is not one of", "sealer rotate"),
        (
            ["completion"],
            "Choose from: bash, zsh, fish (see",
            "sealer completion",
        ),  # click lists choices on lines
        (["no-such-command"], "No such command 'no-such-command'", "sealer"),
        (["rotat", "staging"], "No such command 'rotat'. Did you mean 'rotate'?", "sealer"),
        (["keys", "revok", "staging"], "No such command 'revok'. Did you mean 'revoke'?", "sealer keys"),
        (["--rotate"], "No such option '--rotate'", "sealer"),
        (["rotate", "--abandon"], "Option '--abandon' requires an argument", "sealer rotate"),
        (["keys", "revoke", "dev", "k", "--grace"], "'--grace' requires an argument", "sealer keys revoke"),
        (["--no-such-option"], "No such option '--no-such-option'", "sealer"),
        (
            [
                "ci",
                "init",
                "github",
                "--owner",
                "@o/t",
                "--version",
                "1.0.0",
                "--git",
                f"https://h/p@{'0' * 40}",
            ],
            "--version and --git exclude each other",
            "sealer ci init",
        ),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    says: str,
    help_of: str,
) -> None:
    """README: exit 2 is "usage error or bad input — one line on stderr", naming the help to
    read; under `main` (the installed script) and click's own runner alike."""
    code, out, err = run_main(tmp_path, capsys, *args)
    assert_one_line_error(Run(code, out, err), 2, says)
    assert err.rstrip().endswith(f"(see '{help_of} -h')"), err
    result = sealer(tmp_path, *args)
    assert_one_line_error(Run(result.exit_code, result.stdout, result.stderr), 2, says)
    assert list(tmp_path.iterdir()) == []


def test_a_bare_group_still_shows_its_help(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`sealer keys` with no subcommand asked for nothing but the help: it gets it (exit 0 with
    click 8.1, exit 2 from 8.2 on), never a one-line error."""
    code, out, err = run_main(tmp_path, capsys, "keys")
    assert "Commands:" in out + err and "revoke" in out + err
    assert not err.startswith("sealer: "), err


# -- refused pipeline commands change nothing ----------------------------------------------------

FORGE_VARIABLES = ("GITHUB_REPOSITORY", "CI_API_V4_URL", "CI_PROJECT_ID", "SEALER_FORGE")
FORGE_VARIABLES += ("GITEA_ACTIONS", "FORGEJO_ACTIONS", "GITEA_URL", "FORGEJO_URL")


def repo_state(repo: Path) -> tuple[dict[str, bytes], str, str, str, list[str]]:
    """What a refused command must leave as it was: every work-tree file, every ref and HEAD,
    the index, and what sealer keeps in the git directory (its lock, its journal)."""
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    head = git(repo, "symbolic-ref", "-q", "HEAD", check=False) + git(repo, "rev-parse", "HEAD")
    index = git(repo, "ls-files", "--stage")
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip())  # a linked worktree's too
    own = sorted(p.name for p in git_dir.iterdir() if p.name.startswith("sealer"))
    return snapshot(repo), refs, head, index, own


def staging_key(repo: Path) -> str:
    return ledger_records(repo, "staging")[0].key_id


def sealing_cert(repo: Path) -> str:
    """The fingerprint of the certificate staging seals with (`sealWith`)."""
    (row,) = json.loads(sealer(repo, "cert", "status", "staging", "-o", "json").stdout)
    fingerprint: str = row["fingerprint"]
    return fingerprint


def dirty_config(repo: Path) -> None:
    with (repo / "sealer.yaml").open("a", encoding="utf-8") as config:
        config.write("# an edit not committed yet\n")


def open_rotation(repo: Path) -> None:
    result = sealer(repo, "rotate", "staging")
    assert result.exit_code == 0, result.stderr


def unusable_lock(repo: Path) -> None:
    """`.git/sealer.lock` cannot be opened (as in a read-only checkout, which root, running the
    tests, would not notice): a folder of that name."""
    lock = repo / ".git" / "sealer.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()


@dataclass(frozen=True)
class Refusal:
    """A command the README says refuses with exit 2, nothing changed; `{key}`/`{cert}` in its
    args stand for staging's key id and sealing certificate, `prepare` sets the scene first."""

    args: tuple[str, ...]
    says: str
    prepare: Callable[[Path], None] | None = field(default=None)


REFUSALS = {
    "rotate unknown env": Refusal(("rotate", "nope"), "unknown environment 'nope'"),
    "rotate bad grace": Refusal(("rotate", "staging", "--grace", "forever"), "bad duration"),
    "rotate uncommitted config": Refusal(("rotate", "staging"), "uncommitted changes", dirty_config),
    "rotate over an open rotation": Refusal(("rotate", "staging"), "--replace", open_rotation),
    "rotate --open-pr without a host": Refusal(
        ("rotate", "staging", "--push", "origin", "--open-pr"), "cannot tell the Git host"
    ),
    "rotate --open-pr without --push": Refusal(("rotate", "staging", "--open-pr"), "--open-pr needs --push"),
    "rotate --finish unknown env": Refusal(("rotate", "--finish", "nope"), "unknown environment"),
    "rotate --abandon unknown branch": Refusal(("rotate", "--abandon", "no-such-branch"), "no-such-branch"),
    "keys revoke unknown key": Refusal(("keys", "revoke", "staging", "kid_000000000000"), "no key"),
    "keys revoke bad grace": Refusal(("keys", "revoke", "staging", "{key}", "--grace", "x"), "bad duration"),
    "keys revoke uncommitted config": Refusal(
        ("keys", "revoke", "staging", "{key}"), "uncommitted changes", dirty_config
    ),
    "keys compromised unknown key": Refusal(("keys", "compromised", "staging", "kid_000000000000"), "no key"),
    "keys compromised uncommitted config": Refusal(
        ("keys", "compromised", "staging", "{key}"), "uncommitted changes", dirty_config
    ),
    "keys verify unknown env": Refusal(("keys", "verify", "stagin"), "did you mean 'staging'?"),
    "rotate without its lock": Refusal(("rotate", "staging"), "cannot take the lock", unusable_lock),
    "rotate --finish without its lock": Refusal(
        ("rotate", "--finish"), "cannot take the lock", unusable_lock
    ),
    "render without its lock": Refusal(("render", "staging"), "cannot take the lock", unusable_lock),
    "keys revoke without its lock": Refusal(
        ("keys", "revoke", "staging", "{key}"), "cannot take the lock", unusable_lock
    ),
    "keys verify without state": Refusal(
        ("keys", "verify", "staging", "--registry", "registry/staging/staging.yaml", "--state", "st"),
        "--init-state",
    ),
    "review unknown revision": Refusal(("review", "no-such-rev", "HEAD"), "unknown revision"),
    "check unknown env": Refusal(("check", "nope"), "unknown environment"),
    "scan missing path": Refusal(("scan", "no/such/path"), "no such file or folder"),
    "status without kubeconfig": Refusal(("status", "staging"), "kubeconfig"),
    "audit unknown env": Refusal(("audit", "nope"), "unknown environment"),
    "backend set unknown kind": Refusal(("backend", "set", "staging", "nosuchkind"), "unknown backend"),
    "backend check unknown env": Refusal(("backend", "check", "nope"), "unknown environment"),
    "cert add unreadable file": Refusal(("cert", "add", "staging", "--file", "no-such.pem"), "cannot read"),
    "cert remove unknown cert": Refusal(("cert", "remove", "staging", "deadbeefdeadbeef"), "no single"),
    "cert remove the sealing cert": Refusal(("cert", "remove", "staging", "{cert}"), "seal"),
    "cert status unknown env": Refusal(("cert", "status", "nope"), "unknown environment"),
    "cert fetch without kubeconfig": Refusal(("cert", "fetch", "staging"), "kubeconfig"),
    "render unknown env": Refusal(("render", "nope"), "unknown environment"),
    "init over an existing repo": Refusal(("init",), "never overwrites"),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
@pytest.mark.parametrize("output", [(), ("-o", "json")], ids=["text", "json"])
def test_a_refused_command_exits_2_in_one_line_and_changes_nothing(
    rotated: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: Refusal,
    output: tuple[str, ...],
) -> None:
    """README, exit 2: "usage error or bad input — one line on stderr, nothing on disk changed"
    (with `-o json` too: a pipeline reads the same exit code and nothing on stdout)."""
    for variable in FORGE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"slr_staging_not-a-key\n")))
    if case.prepare:
        case.prepare(rotated)
    args = [
        a.replace("{key}", staging_key(rotated)).replace("{cert}", sealing_cert(rotated)) for a in case.args
    ]
    before = repo_state(rotated)
    code, out, err = run_main(rotated, capsys, *args, *output)
    assert_one_line_error(Run(code, out, err), 2, case.says)
    assert repo_state(rotated) == before


# -- documented JSON fields -----------------------------------------------------------------------

LEAK = 'dsn = "postgres://admin:Sup3rS3cretPassw0rd@db.internal:5432/app"\n'


def test_review_json_lists_findings_with_the_documented_fields(rotated: Path) -> None:
    """README: `-o json` lists `findings`, `needs_owner_approval` and `approved`, each finding
    as `{"rule", "env", "path", "entry", "message"}`; a finding exits 1."""
    base = git(rotated, "rev-parse", "HEAD").strip()
    (rotated / "notes.txt").write_text(LEAK)
    head = commit_all(rotated, "a note")
    result = sealer(rotated, "review", base, head, "-o", "json")
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    assert {"findings", "needs_owner_approval", "approved"} <= data.keys()
    assert [set(f) for f in data["findings"]] == [{"rule", "env", "path", "entry", "message"}]
    assert (data["findings"][0]["rule"], data["findings"][0]["path"]) == ("plaintext", "notes.txt")


@pytest.mark.parametrize("output", ["markdown", "text", "json"])
def test_every_review_output_redacts_a_key_the_pull_request_names(rotated: Path, output: str) -> None:
    """README: every output of `sealer review` shows a key a path or a message holds as
    `slr_<env>_[redacted]`. A file named after the key it holds: the finding's path showed the
    key in the CI log and in the step summary, which `--post` redacted only in its comment."""
    base, leaked = git(rotated, "rev-parse", "HEAD").strip(), apikey.generate("staging")
    (rotated / f"{leaked}_old.env").write_text(f"API_KEY={leaked}\n")
    head = commit_all(rotated, "debug")
    result = sealer(rotated, "review", base, head, "-o", output)
    assert result.exit_code == 1, result.output
    assert "plaintext" in result.stdout and "slr_staging_[redacted]_old.env" in result.stdout
    assert leaked[len("slr_staging_") :] not in result.stdout + result.stderr


def test_scan_and_check_json_name_the_kind_rule_as_review_does(rotated: Path) -> None:
    """README: `rule` is "the same key `sealer check` and `sealer scan` use for theirs"."""
    (rotated / "notes.txt").write_text(LEAK)
    scanned = sealer(rotated, "scan", "notes.txt", "-o", "json")
    assert scanned.exit_code == 1
    assert [f["rule"] for f in json.loads(scanned.stdout)] == ["url-credentials"]
    checked = sealer(rotated, "check", "-o", "json")
    assert checked.exit_code == 0 and all("rule" in p for p in json.loads(checked.stdout)["problems"])


def test_status_json_names_each_drift_with_the_documented_fields(
    rotated: Path, kubeconfig: Path, kube_server: FakeKube, controllers: Controllers
) -> None:
    """README: `sealer status` exits 1 on any drift and lists it under `drift` with `env`,
    `kind`, `key_id`, `name`, `ledger_status`, `store_status`, `message`, `fix`. The cluster
    serves the ledger's key; the Git ledger store's working tree revokes it (a hand edit)."""
    served = unseal_values(rotated / "deploy" / "staging" / "values.yaml", controllers["staging"])
    kube_server.add_secret("staging", "engine-api-key", served)
    kube_server.add_object(load_yaml(rotated / "registry" / "staging" / "staging.yaml"))  # synced
    in_sync = sealer(rotated, "status", "staging", "--kubeconfig", str(kubeconfig), "-o", "json")
    assert in_sync.exit_code == 0 and json.loads(in_sync.stdout)["drift"] == [], in_sync.stdout
    (record,) = ledger_records(rotated, "staging")
    revoked = record.with_status(REVOKED, None)
    (rotated / "ledger" / "staging.yaml").write_text(ledger.dump("staging", [revoked]))
    result = sealer(rotated, "status", "staging", "--kubeconfig", str(kubeconfig), "-o", "json")
    assert result.exit_code == 1, result.stderr
    (found,) = json.loads(result.stdout)["drift"]
    assert set(found) == {"env", "kind", "key_id", "name", "ledger_status", "store_status", "message", "fix"}
    assert (found["env"], found["kind"], found["key_id"], found["name"]) == (
        "staging",
        "not-valid-in-store",
        record.key_id,
        "apiKey",
    )
    assert (found["ledger_status"], found["store_status"]) == ("active", "revoked")


NO_OPS = {
    # "Running `backend set` again is always safe; the same store again commits nothing."
    "backend set the same store": ("backend", "set", "staging", "k8s-secrets"),
    # "each phase is idempotent (run it again and it finishes what is left, or does nothing)"
    "rotate --finish with nothing left": ("rotate", "--finish"),
    "rotate --resume with nothing to resume": ("rotate", "--resume"),
    # "re-render the environment's values files and key registries (deterministic)"
    "render a rendered env": ("render", "staging"),
}


@pytest.mark.parametrize("args", NO_OPS.values(), ids=NO_OPS.keys())
def test_a_command_with_nothing_to_do_exits_0_and_changes_nothing(
    rotated: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    before = repo_state(rotated)
    code, out, err = run_main(rotated, capsys, *args, "-o", "json")
    assert (code, err) == (0, ""), err
    json.loads(out)  # `-o json` answers in JSON even when there is nothing to do
    assert repo_state(rotated) == before


# -- interrupted before the point of no return ------------------------------------------------------

WRITERS = {
    "rotate": ("rotate", "staging"),
    "rotate --no-branch": ("rotate", "staging", "--no-branch"),
    "keys revoke": ("keys", "revoke", "staging", "{key}"),
    "keys compromised": ("keys", "compromised", "staging", "{key}"),
}


@pytest.mark.parametrize("point", ["before-journal", "before-rename", "before-commit"])
@pytest.mark.parametrize("args", WRITERS.values(), ids=WRITERS.keys())
def test_ctrl_c_before_the_ref_moves_exits_130_and_changes_nothing(
    rotated: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], point: str
) -> None:
    """README (Never half-done): before the branch ref moves, "any failure, or Ctrl-C, puts
    every file back … (exit 2, or 130 when interrupted): as if nothing had happened"."""

    def interrupt() -> None:
        raise KeyboardInterrupt

    wanted = [a.replace("{key}", staging_key(rotated)) for a in args]
    before = repo_state(rotated)
    with at_point(point, interrupt):
        code, out, err = run_main(rotated, capsys, *wanted)
    assert (code, err.strip()) == (130, "sealer: interrupted"), err
    assert repo_state(rotated) == before


def test_ctrl_c_leaving_a_write_under_way_exits_4_and_says_it_may_still_land(
    rotated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README (exit codes): Ctrl-C that leaves a write sealer sent still under way is never 130:
    "it may still land, so the exit code is 4 and the one line names it"."""
    from sealer.errors import InterruptedInFlight

    def interrupt() -> None:
        raise InterruptedInFlight(
            "interrupted with a write to vault: x (writing y) still under way: it may still land"
        )

    with at_point("before-journal", interrupt):
        code, out, err = run_main(rotated, capsys, "keys", "revoke", "staging", staging_key(rotated))
    assert code == 4, err
    assert err.strip().startswith(
        "sealer: interrupted with a write to vault: x (writing y) still under way: it may still land; "
        "check what landed (`sealer keys list ENV`), then run the same command again to finish"
    )
    assert "rotate" not in err and len(err.strip().splitlines()) == 1  # a revocation's, not a rotation's
    code, out, err = run_main(rotated, capsys, "keys", "revoke", "staging", staging_key(rotated))
    assert code == 0, err  # as the line says: the same command again finishes


# -- a missing extra ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("rotate", "staging"),
        ("rotate", "--finish"),
        ("rotate", "--abandon", "HEAD"),
        ("keys", "revoke", "staging", "{key}"),
        ("keys", "compromised", "staging", "{key}"),
        ("backend", "check", "staging"),
    ],
    ids=" ".join,
)
def test_a_missing_extra_stops_a_pipeline_command_before_anything_changes(
    rotated: Path, args: tuple[str, ...]
) -> None:
    """README: without the extra, "every command using an environment whose key store is
    `postgres` (… `rotate` …) stops before changing anything with one line and exit 2"."""
    with config.edit(rotated) as doc:  # chosen where psycopg was installed; this machine lacks it
        doc["environments"]["staging"]["backend"] = {"kind": "postgres"}
    commit_all(rotated, "staging keeps its keys in postgres")
    wanted = [a.replace("{key}", staging_key(rotated)) for a in args]
    before = repo_state(rotated)
    done = sealer_without(rotated, "psycopg", *wanted)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "sealer: the postgres key store needs psycopg: pip install 'sealer[postgres]'\n"
    assert repo_state(rotated) == before


@pytest.mark.parametrize(
    "args",
    [
        ("rotate", "staging"),
        ("rotate", "--finish"),
        ("keys", "revoke", "staging", "{key}"),
        ("keys", "compromised", "staging", "{key}"),
    ],
    ids=" ".join,
)
def test_a_missing_credential_variable_stops_a_pipeline_command_before_anything_changes(
    rotated: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    """README (Credentials per environment): every variable a source names must be set when the
    store is opened; "a missing one stops the command with exit 2 and one line naming the
    environment and what is missing …; nothing changed"."""
    monkeypatch.delenv("VAULT_TOKEN_STAGING", raising=False)
    with config.edit(rotated) as doc:
        doc["environments"]["staging"]["backend"] = {
            "kind": "vault",
            "credentials": {"address": "https://vault.internal:8200", "token_env": "VAULT_TOKEN_STAGING"},
        }
    commit_all(rotated, "staging keeps its keys in vault")
    wanted = [a.replace("{key}", staging_key(rotated)) for a in args]
    before = repo_state(rotated)
    result = sealer(rotated, *wanted)
    assert_one_line_error(
        Run(result.exit_code, result.stdout, result.stderr),
        2,
        "staging: vault token variable VAULT_TOKEN_STAGING is not set",
    )
    assert repo_state(rotated) == before


# -- a tired operator -------------------------------------------------------------------------------


def test_a_rotation_in_another_worktree_of_the_repo_waits_for_the_lock(rotated: Path, tmp_path: Path) -> None:
    """README: "One lock (`.git/sealer.lock`, shared by every worktree of the repository)
    serialises every command that writes sealer's files". Worktrees share their repository's
    branches and key stores, so a rotation in a linked worktree waits for one running in the
    main checkout (it would open a second rotation of the environment, which is refused)."""
    worktree = tmp_path / "second checkout"
    git(rotated, "worktree", "add", "-q", str(worktree), "-b", "elsewhere")
    before = repo_state(rotated)
    with lock.hold(rotated / ".git"):
        result = sealer(worktree, "rotate", "staging")
    assert_one_line_error(
        Run(result.exit_code, result.stdout, result.stderr), 2, "another sealer rotation is running"
    )
    assert repo_state(rotated) == before


@pytest.mark.parametrize("interrupted_in", ["main checkout", "linked worktree"])
@pytest.mark.parametrize(
    "command", [("rotate", "staging"), ("rotate", "--resume"), ("backend", "set", "staging", "k8s-secrets")]
)
def test_a_run_interrupted_in_another_worktree_is_finished_there_first(
    rotated: Path, tmp_path: Path, interrupted_in: str, command: tuple[str, ...]
) -> None:
    """The journal of an interrupted run lives in its worktree's git dir, while branches, key
    stores and the lock are shared: a rotation (or --resume, or a store move) in another worktree
    would rotate on top of it, or report nothing to resume. Refused (exit 2, one line naming the
    worktree), nothing changed; the run is then finished where it was interrupted."""
    worktree = tmp_path / "second checkout"
    git(rotated, "worktree", "add", "-q", str(worktree), "-b", "elsewhere")
    broken, other = (rotated, worktree) if interrupted_in == "main checkout" else (worktree, rotated)
    git(broken, "remote", "add", "origin", str(tmp_path / "gone.git"))  # the push fails: exit 4
    assert sealer(broken, "rotate", "staging", "--push", "origin").exit_code == 4
    before_main, before_other = repo_state(rotated), repo_state(worktree)
    result = sealer(other, *command)
    assert_one_line_error(
        Run(result.exit_code, result.stdout, result.stderr), 2, "waits in another worktree of this repository"
    )
    assert str(broken) in result.stderr
    assert (repo_state(rotated), repo_state(worktree)) == (before_main, before_other)
    git(broken, "remote", "set-url", "origin", str(tmp_path / "made.git"))
    git(tmp_path, "init", "-q", "--bare", str(tmp_path / "made.git"))
    resumed = sealer(broken, "rotate", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert sealer(other, "rotate", "staging", "--dry-run").exit_code == 0


def test_a_journal_in_a_worktree_whose_folder_is_gone_says_how_to_forget_it(
    rotated: Path, tmp_path: Path
) -> None:
    """A linked worktree deleted with `rm -rf` keeps its git dir, journal included: the refusal
    cannot send the user there, so it names `git worktree prune`, which then unblocks the repo."""
    worktree = tmp_path / "gone checkout"
    git(rotated, "worktree", "add", "-q", str(worktree), "-b", "elsewhere")
    git(worktree, "remote", "add", "origin", str(tmp_path / "gone.git"))
    assert sealer(worktree, "rotate", "staging", "--push", "origin").exit_code == 4
    shutil.rmtree(worktree)
    result = sealer(rotated, "rotate", "staging")
    assert_one_line_error(Run(result.exit_code, result.stdout, result.stderr), 2, "git worktree prune")
    git(rotated, "worktree", "prune")
    again = sealer(rotated, "rotate", "staging", "--replace")  # its branch was committed: replaced
    assert again.exit_code == 0, again.output


def test_a_dry_run_never_finishes_an_interrupted_run(
    rotated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--dry-run`: "Show what would rotate; write nothing." With a run left to finish (its push
    failed), finishing it would write, push and change key stores: refused, nothing changed."""
    git(rotated, "remote", "add", "origin", str(rotated.parent / "gone.git"))  # the push fails
    code, _, err = run_main(rotated, capsys, "rotate", "staging", "--push", "origin")
    assert code == 4, err
    before = repo_state(rotated)
    code, out, err = run_main(rotated, capsys, "rotate", "staging", "--dry-run", "-o", "json")
    assert_one_line_error(Run(code, out, err), 2, "run `sealer rotate --resume` first")
    assert repo_state(rotated) == before


def test_from_a_sub_folder_of_the_repo_a_rotation_commits_the_repos_own_paths(rotated: Path) -> None:
    """Run from `deploy/staging/`, sealer finds the repo's sealer.yaml above and commits the same
    paths as from the top."""
    result = sealer(rotated / "deploy" / "staging", "rotate", "staging", "-o", "json")
    assert result.exit_code == 0, result.stderr
    changed = git(rotated, "diff", "--name-only", "HEAD", json.loads(result.stdout)["commit"]).split()
    assert "deploy/staging/values.yaml" in changed and "ledger/staging.yaml" in changed, changed


def test_a_sealer_repo_below_the_top_of_a_git_work_tree_is_refused(
    rotated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rotation commits paths from the top of the repository, and review, the hooks and the
    diff driver read them there: a sealer.yaml in a sub-folder of a Git work tree (a repo copied
    into a monorepo, `sealer init` run one folder too deep) is refused in one line, nothing
    changed, rather than committing its files at the top."""
    mono = init_repo(tmp_path / "mono")
    shutil.copytree(rotated, mono / "platform", ignore=shutil.ignore_patterns(".git"))
    (mono / "apps").mkdir()
    (mono / "apps" / "README").write_text("an app\n")
    commit_all(mono, "a monorepo")
    before = repo_state(mono)
    for folder, args, says in (
        (mono / "platform", ("rotate", "staging"), "is not at the top of its Git work tree"),
        (mono / "platform" / "deploy", ("keys", "list", "staging"), "is not at the top of its Git work tree"),
        (mono / "apps", ("init",), "run `sealer init` there"),
    ):
        code, out, err = run_main(folder, capsys, *args)
        assert_one_line_error(Run(code, out, err), 2, says)
    assert repo_state(mono) == before


@pytest.mark.parametrize("work_tree", [False, True], ids=["GIT_DIR", "GIT_DIR+GIT_WORK_TREE"])
def test_a_callers_git_dir_neither_lets_a_repo_below_the_top_pass_nor_moves_sealers_git(
    rotated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    work_tree: bool,
) -> None:
    """An exported GIT_DIR (a linked worktree's hooks get one; without GIT_WORK_TREE git takes the
    current folder for the top) made the sealer.yaml of a monorepo's folder pass as the top, and
    pointed sealer's commits at that repository: sealer's git works on the repository holding
    its folder, whatever GIT_DIR and GIT_WORK_TREE say."""
    mono = init_repo(tmp_path / "mono")
    shutil.copytree(rotated, mono / "platform", ignore=shutil.ignore_patterns(".git"))
    commit_all(mono, "a monorepo")
    before, own_head = repo_state(mono), git(rotated, "rev-parse", "HEAD").strip()
    with monkeypatch.context() as patch:  # the tests' own git must not see them
        patch.setenv("GIT_DIR", str(mono / ".git"))
        if work_tree:
            patch.setenv("GIT_WORK_TREE", str(mono / "platform"))
        refused = run_main(mono / "platform", capsys, "rotate", "staging")
        rotated_own = run_main(rotated, capsys, "rotate", "staging", "--replace", "-o", "json")
    assert_one_line_error(Run(*refused), 2, "is not at the top of its Git work tree")
    assert rotated_own[0] == 0, rotated_own[2]
    commit = json.loads(rotated_own[1])["commit"]  # in its own repository, on top of its HEAD
    assert git(rotated, "rev-parse", f"{commit}~1").strip() == own_head
    assert repo_state(mono) == before


def test_check_without_git_installed_says_so_and_fails(
    rotated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Looking for the top of the work tree asks git; without git, `check` reads the files and
    fails on what it cannot examine (what Git's index holds: git-index-unreadable), where it
    passed; `audit`, which reads no index and fails on nothing, reads the files alone."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    code, out, err = run_main(rotated, capsys, "check", "-o", "json")
    assert (code, err) == (1, ""), err
    (problem,) = [p for p in json.loads(out)["problems"] if p["level"] == "error"]  # dev's: warnings
    assert problem["rule"] == "git-index-unreadable"
    assert problem["message"].startswith("git is not installed:")
    assert problem["fix"] == "install git, then run check again"
    code, out, err = run_main(rotated, capsys, "audit")
    assert (code, err) == (0, ""), err


def test_a_repo_whose_folder_name_is_not_utf8_still_rotates(rotated: Path, tmp_path: Path) -> None:
    """A folder name is bytes to the file system (a Latin-1 `é` here): sealer reads the paths git
    prints as the file system names them, in the main checkout and in a linked worktree."""
    repo = Path(shutil.move(rotated, tmp_path / os.fsdecode(b"d\xe9p\xf4t")))
    worktree = tmp_path / os.fsdecode(b"second-\xe9")
    git(repo, "worktree", "add", "-q", str(worktree), "-b", "elsewhere")
    for folder in (repo, worktree):
        result = sealer(folder, "rotate", "staging", "--replace", "-o", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["commit"]
    review = sealer(worktree, "review", "HEAD~1", "HEAD", "-o", "json")  # reads git's `shallow` file
    assert review.exit_code == 0 and review.exception is None, (review.output, review.exception)
