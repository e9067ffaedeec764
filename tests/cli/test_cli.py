"""The command line as a whole: exit codes, error lines, start-up weight, the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from support.cli import assert_one_line_error, invoke, run_main

import sealer
from sealer import apikey
from sealer import cli as cli_module
from sealer.errors import BadInput, GitError

HEAVY = ("kubernetes", "boto3", "botocore", "hvac", "auth0", "psycopg", "ruamel", "jinja2", "moto")


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["seal", "--help"]])
def test_help_and_version_import_no_heavy_client(args: list[str]) -> None:
    code = (
        f"import sys\nfrom sealer.cli import main\ncode = main({args!r})\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print('HEAVY', heavy, file=sys.stderr)\nraise SystemExit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr


def test_the_lazy_command_map_names_every_command_where_it_is_defined() -> None:
    import importlib
    import pkgutil

    defined: dict[str, set[str]] = {}
    for info in pkgutil.iter_modules(cli_module.__path__):
        for command in getattr(importlib.import_module(f"sealer.cli.{info.name}"), "COMMANDS", []):
            defined.setdefault(command.name, set()).add(info.name)
    assert set(cli_module.COMMAND_MODULES) == set(defined)
    assert all(defined[name] <= set(where) for name, where in cli_module.COMMAND_MODULES.items())
    cert_group = cli_module.cli.get_command(click.Context(cli_module.cli), "cert")
    assert isinstance(cert_group, click.Group)
    assert {"show", "add", "status", "fetch"} <= set(cert_group.commands)


def test_a_command_loads_only_its_own_module() -> None:
    code = (
        "import sys\nfrom sealer.cli import main\ncode = main(['scan', '--help'])\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('sealer.cli.')), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "LOADED ['sealer.cli.common', 'sealer.cli.scan']" in done.stderr  # common: the shared options


def test_version_and_help_text(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_main(["--version"], capsys)
    assert (run.code, run.stdout.strip()) == (0, f"sealer, version {sealer.__version__}")
    run = run_main(["--help"], capsys)
    assert run.code == 0 and "Exit codes: 0 ok, 1 findings" in run.stdout
    assert "-o json for pipelines" in run.stdout  # as README's Commands section says
    for command in ("keygen", "keypair", "cert", "seal", "unseal", "validate"):
        assert command in run.stdout


def test_python_dash_m_sealer_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sealer", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and sealer.__version__ in done.stdout


@pytest.fixture
def fake_command() -> object:
    """A throwaway command added to the group for one test, removed afterwards."""
    behaviour: dict[str, BaseException | int] = {}

    @click.command("fake-for-test")
    def fake() -> int:
        what = behaviour["do"]
        if isinstance(what, BaseException):
            raise what
        return what

    cli_module.cli.add_command(fake)
    yield behaviour
    cli_module.cli.commands.pop("fake-for-test")


@pytest.mark.parametrize(
    ("do", "code", "line"),
    [
        (BadInput("the input is wrong"), 2, "sealer: the input is wrong"),
        (GitError("git status: fatal: bad object"), 2, "sealer: git status: fatal: bad object"),
        (KeyboardInterrupt(), 130, "sealer: interrupted"),
    ],
)
def test_expected_failures_become_one_line_and_an_exit_code(
    fake_command: dict[str, object],
    capsys: pytest.CaptureFixture[str],
    do: BaseException,
    code: int,
    line: str,
) -> None:
    fake_command["do"] = do
    run = run_main(["fake-for-test"], capsys)
    if isinstance(do, KeyboardInterrupt):
        run.stderr = run.stderr.removeprefix("\n")  # click ends the ^C line first
    assert_one_line_error(run, code, line)
    if not isinstance(do, KeyboardInterrupt):  # CliRunner turns ^C into click's own Abort
        assert_one_line_error(invoke(["fake-for-test"]), code, line)


def test_a_bug_shows_its_traceback_and_exits_3(
    fake_command: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_command["do"] = RuntimeError("boom")
    run = run_main(["fake-for-test"], capsys)
    assert run.code == 3
    assert "Traceback" in run.stderr and "RuntimeError: boom" in run.stderr
    assert run.stderr.strip().endswith("sealer: unexpected error (this is a bug)")


def test_no_error_line_or_traceback_shows_a_key(
    fake_command: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    """A path or a library's message may quote a key: the one line and a bug's traceback show it
    redacted, in `sealer` run as a program and through click's own runner."""
    key = apikey.generate("prod")
    secret = key[len("slr_prod_") :]
    fake_command["do"] = BadInput(f"cannot read /tmp/x{key}y.yaml")
    assert_one_line_error(
        run_main(["fake-for-test"], capsys), 2, "sealer: cannot read /tmp/xslr_prod_[redacted]y.yaml"
    )
    assert secret not in invoke(["fake-for-test"]).stderr
    fake_command["do"] = RuntimeError(f"unexpected value {key!r}")
    run = run_main(["fake-for-test"], capsys)
    assert run.code == 3 and "RuntimeError: unexpected value 'slr_prod_[redacted]'" in run.stderr
    assert secret not in run.stderr
    run = run_main(["keygen", "--env", "prod", "--bits", key], capsys)
    assert run.code == 2 and secret not in run.stderr


def test_a_bugs_traceback_hides_a_credential_as_an_error_line_does(
    fake_command: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    """A library's message (a DSN a driver quotes) reaches a bug's traceback as it is: its
    credentials are hidden there as in every error line, not sealer's keys alone."""
    dsn = "postgresql://app:Xq7vR2mN9pL4sT8w@db.internal/orders"
    fake_command["do"] = RuntimeError(f"invalid dsn {dsn!r}")
    run = run_main(["fake-for-test"], capsys)
    assert run.code == 3 and "Traceback" in run.stderr, run.stderr
    assert "Xq7vR2mN9pL4sT8w" not in run.stderr and "not shown>" in run.stderr, run.stderr


@pytest.mark.parametrize("returned", [0, 1, 2])
def test_a_commands_return_value_is_its_exit_code(
    fake_command: dict[str, object], capsys: pytest.CaptureFixture[str], returned: int
) -> None:
    fake_command["do"] = returned
    assert run_main(["fake-for-test"], capsys).code == returned
    assert invoke(["fake-for-test"]).code == returned


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_main(["seal", "--no-such-option"], capsys)
    assert run.code == 2 and "No such option" in run.stderr and "Traceback" not in run.stderr
    assert run_main(["no-such-command"], capsys).code == 2


def test_installed_script_end_to_end(tmp_path: Path) -> None:
    """The `sealer` console script: keypair, seal, validate, unseal — the demo's main path."""
    script = Path(sys.executable).with_name("sealer")
    exe = [str(script)] if script.exists() else [sys.executable, "-m", "sealer"]

    def sealer_run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*exe, *args], capture_output=True, text=True, input=stdin, timeout=120)

    keys = tmp_path / "keys"
    made = sealer_run("keypair", "--out", str(keys), "--bits", "2048", "-o", "json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["key_bits"] == 2048
    sealed = sealer_run(
        "seal",
        "--cert",
        str(keys / "tls.crt"),
        "--name",
        "app",
        "-n",
        "prod",
        "--from-literal",
        "api-key=s3cr3t",
        "-w",
        str(tmp_path / "sealed.yaml"),
    )
    assert sealed.returncode == 0, sealed.stderr
    assert "s3cr3t" not in (tmp_path / "sealed.yaml").read_text()
    checked = sealer_run(
        "validate",
        "-f",
        str(tmp_path / "sealed.yaml"),
        "--cert",
        str(keys / "tls.crt"),
        "--key",
        str(keys / "tls.key"),
    )
    assert checked.returncode == 0 and checked.stdout.startswith("ok: 1 SealedSecret(s), 1 entries")
    opened = sealer_run(
        "unseal",
        "--key",
        str(keys / "sealed-secrets-key.yaml"),
        "--format",
        "json",
        stdin=(tmp_path / "sealed.yaml").read_text(),
    )
    assert opened.returncode == 0, opened.stderr
    assert json.loads(opened.stdout)["data"] == {"api-key": "czNjcjN0"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["rotate", "staging", "--branch", "b", "--no-branch"],
            "--branch and --no-branch exclude each other",
        ),
        (["keypair", "--out", "k", "--backup", "vault:s/a", "--restore", "vault:s/a"], "exclude each other"),
        (["rotate", "--finish", "--abandon", "b"], "--resume, --finish and --abandon exclude each other"),
        # a phase does what the reviewed rotation chose: an option it would ignore is refused
        (["rotate", "--finish", "--grace", "1h"], "rotate --finish takes no --grace"),
        (["rotate", "--finish", "staging", "--push", "origin"], "rotate --finish takes no --push"),
        (["rotate", "--abandon", "b", "staging", "--replace"], "rotate --abandon takes no ENV, --replace"),
        (["rotate", "--resume", "--dry-run"], "rotate --resume takes no --dry-run"),
        (["rotate", "--resume", "staging", "--branch", "b"], "rotate --resume takes no ENV, --branch"),
        (
            ["rotate", "staging", "--no-commit", "--push", "origin"],
            "rotate --no-commit writes the files only",
        ),
        (["rotate", "staging", "--no-commit", "--branch", "b"], "it takes no --branch"),
        (
            ["keys", "verify", "staging", "--registry", "r.yaml", "--state", "s", "--context", "c"],
            "--kubeconfig and --context go with --live, not --registry",
        ),
        (["scan", "--staged", "--all-files"], "exactly one of them"),
        (["scan", "--update-baseline", "README.md"], "--update-baseline needs --baseline FILE"),
        (["seal", "--cert", "c.pem", "--merge-into", "s.yaml", "-w", "x.yaml"], "leave out -w/--write"),
    ],
)
def test_conflicting_options_are_one_bad_input_line_in_every_command(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    says: str,
) -> None:
    """One rule for options that exclude or need each other: exit 2, one `sealer:` line, no usage text,
    and nothing read or written first."""
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run_main(args, capsys), 2, says)
    assert list(tmp_path.iterdir()) == []
