"""The real pre-commit framework in a temp Git repository, running the `sealer-scan` hook.

The hook's settings come from this repository's .pre-commit-hooks.yaml; only `language` and
`entry` change (`system` with this interpreter), so pre-commit builds no environment and
needs no network.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from support import key_spellings

from sealer import apikey, certs
from sealer.scope import Scope
from sealer.sealing import CertSealer

HOOKS_FILE = Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml"


def test_hooks_file_is_a_valid_pre_commit_manifest() -> None:
    from pre_commit.clientlib import load_manifest

    hooks = {h["id"]: h for h in load_manifest(str(HOOKS_FILE))}
    scan = hooks["sealer-scan"]
    assert (scan["entry"], scan["language"], scan["pass_filenames"]) == ("sealer scan", "python", True)


def local_config(*ids: str, install: tuple[str, ...] = ()) -> str:
    """The hooks `ids` (default sealer-scan) as local hooks; `install`: the hook types
    `pre-commit install` installs (default_install_hook_types)."""
    from pre_commit.clientlib import load_manifest

    manifest = {h["id"]: h for h in load_manifest(str(HOOKS_FILE))}
    hooks = []
    for hook_id in ids or ("sealer-scan",):
        hook = manifest[hook_id]
        keys = ("id", "name", "types", "types_or", "pass_filenames", "always_run", "require_serial", "stages")
        local = {k: hook[k] for k in keys}
        local.update(language="system", entry=f"{sys.executable} -m {hook['entry']}")
        hooks.append(local)
    config: dict[str, object] = {"repos": [{"repo": "local", "hooks": hooks}]}
    if install:
        config["default_install_hook_types"] = list(install)
    return yaml.safe_dump(config)


def run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=repo, capture_output=True, text=True, check=False)


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    root = tmp_path / "repo"
    root.mkdir()
    assert run(root, "git", "init", "-q").returncode == 0
    (root / ".pre-commit-config.yaml").write_text(local_config())
    installed = run(root, sys.executable, "-m", "pre_commit", "install")
    assert installed.returncode == 0, installed.stderr
    return root


def commit(repo: Path, files: dict[str, str] | dict[str, bytes]) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            (repo / name).write_bytes(text)
        else:
            (repo / name).write_text(text)
    assert run(repo, "git", "add", "--", ".pre-commit-config.yaml", *files).returncode == 0
    return run(repo, "git", "commit", "-m", "change")


def committed(repo: Path) -> bool:
    return run(repo, "git", "rev-parse", "--verify", "-q", "HEAD").returncode == 0


def test_generated_key_in_a_values_file_is_blocked(repo: Path) -> None:
    key = apikey.generate("staging")
    done = commit(
        repo, {"deploy/staging/values.yaml": f"replicaCount: 2\napiKey: {key}\n", "README.md": "docs\n"}
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0 and not committed(repo)
    assert "sealer scan (no plaintext secrets)" in out and "Failed" in out
    assert "deploy/staging/values.yaml:2:9: error: sealer-api-key: sealer API key (checksum verified)" in out
    assert "plaintext secrets must not be committed" in out
    assert key not in out


@pytest.mark.parametrize(
    ("name", "text", "column"),
    [
        ("notes.md", "Use `{md}` for now\n", 6),  # Markdown escapes each `_`
        ("pr.json", '{{"body": "key: {json}"}}\n', 16),  # a Markdown body in JSON doubles the backslash
    ],
    ids=["markdown", "json"],
)
def test_a_key_with_escaped_underscores_is_blocked(repo: Path, name: str, text: str, column: int) -> None:
    """`sealer review` and redaction read `slr\\_prod\\_…` as the key it is: so does the hook."""
    key = apikey.generate("prod")
    md = key.replace("_", "\\_")
    done = commit(repo, {name: text.format(md=md, json=md.replace("\\", "\\\\"))})
    out = done.stdout + done.stderr
    assert done.returncode != 0 and not committed(repo), out
    assert f"{name}:1:{column}: error: sealer-api-key: sealer API key (checksum verified)" in out
    assert key.split("_")[2] not in out


def test_a_key_spelt_as_a_url_a_string_literal_or_html_is_blocked(repo: Path) -> None:
    """A key pasted into a URL (`%5F`), a string literal (`\\u005f`) or HTML (`&#95;`), its
    environment's `-` too, is the key review and redaction read: the hook blocks each, shown
    redacted; a lookalike whose checksum fails, spelt so, passes."""
    keys = {name: apikey.generate("prod-eu") for name in key_spellings.SPELLINGS}
    files = {
        f"{name}.md": f"see https://x.test/?k={key_spellings.spelt(key, name)}\n"
        for name, key in keys.items()
    }
    done = commit(repo, files)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and not committed(repo), out
    for name, key in keys.items():
        column = 23 + max(key_spellings.spelt(key, name).find("\\x73\\"), 0)  # JSON's `\\x73`: its last `\`
        assert f"{name}.md:1:{column}: error: sealer-api-key: sealer API key (checksum verified)" in out
        assert key.split("_")[2][:12] not in out
    bad = {name: key[:-1] + ("A" if key[-1] != "A" else "B") for name, key in keys.items()}
    done = commit(
        repo, {f"{name}.md": f"see {key_spellings.spelt(key, name)}\n" for name, key in bad.items()}
    )
    assert done.returncode == 0 and committed(repo), done.stdout + done.stderr


def test_the_hook_blocks_a_key_in_a_linked_worktrees_commit_all(repo: Path) -> None:
    """There git runs the hook with GIT_DIR (the worktree's) and GIT_INDEX_FILE (the index
    `commit -a` builds) exported: sealer's git ignores GIT_DIR, finds the same repository from
    the folder, and keeps the index being committed."""
    assert commit(repo, {"README.md": "docs\n"}).returncode == 0
    worktree = repo.parent / "second"
    assert run(repo, "git", "worktree", "add", "-q", str(worktree)).returncode == 0
    key = apikey.generate("staging")
    (worktree / "README.md").write_text(f"apiKey: {key}\n")
    done = run(worktree, "git", "commit", "-a", "-m", "a key")
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "README.md:1:9: error: sealer-api-key" in out and key not in out
    (worktree / "README.md").write_text("docs, more\n")
    done = run(worktree, "git", "commit", "-a", "-m", "docs")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sealer scan (no plaintext secrets)" in done.stderr and "Passed" in done.stderr


def rendered_values(sealer: CertSealer, key: str) -> str:
    """The values file `sealer render` writes, through sealer's own template and round trip."""
    from sealer import render, templating
    from sealer.records import iso

    fp = apikey.fingerprint(key)
    sealed = sealer.seal_values(Scope.STRICT, "staging", "engine-api-key", [key.encode()])
    record = SimpleNamespace(
        key_id=apikey.key_id(fp),
        fingerprint=fp,
        created=iso(dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)),
        expires=iso(dt.datetime(2027, 2, 25, tzinfo=dt.timezone.utc)),
    )
    subtree = templating.render(
        "values.sealer.yaml.j2",
        env=SimpleNamespace(secret_name="engine-api-key", namespace="staging", scope=Scope.STRICT),
        cluster=SimpleNamespace(name="staging"),
        cert_fingerprint=sealer.fingerprint,
        encrypted={"apiKey": sealed[0]},
        records={"apiKey": record},
        checksum="9e" * 32,
    )
    return render.render_values("# Helm values for staging\nreplicaCount: 2\n", subtree, "values.yaml")


def test_sealer_rendered_values_pass(repo: Path, keypair_dir: Path) -> None:
    cert = keypair_dir / "tls.crt"
    sealer = CertSealer.from_certificate(certs.load_certificate(cert), str(cert))
    text = rendered_values(sealer, apikey.generate("staging"))
    assert "encryptedData:" in text and "keyId: kid_" in text
    done = commit(repo, {"deploy/staging/values.yaml": text})
    assert done.returncode == 0, done.stdout + done.stderr
    assert committed(repo)
    assert "sealer scan (no plaintext secrets)" in done.stderr and "Passed" in done.stderr


def test_plain_secret_manifest_is_blocked(repo: Path) -> None:
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: engine-api-key\n"
        "stringData:\n  apiKey: not-even-random\n"
    )
    done = commit(repo, {"k8s/secret.yaml": manifest})
    assert done.returncode != 0 and not committed(repo)
    out = done.stdout + done.stderr
    assert "k8s/secret.yaml:6:3: error: kubernetes-secret: plain Kubernetes Secret" in out


def test_allowlisted_line_passes(repo: Path) -> None:
    key = apikey.generate("dev")
    done = commit(repo, {"tests/fixture.env": f"API_KEY={key}  # sealer: allow (test fixture)\n"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert committed(repo)


def test_hooks_hand_every_file_to_the_scanner() -> None:
    """pre-commit calls UTF-16 text, files with a NUL and archives binary: no `types` filter,
    and symlinks are no `file` to it: every file and every symlink."""
    from pre_commit.clientlib import load_manifest

    hook = next(h for h in load_manifest(str(HOOKS_FILE)) if h["id"] == "sealer-scan")
    assert hook["types"] == [] and hook["types_or"] == ["file", "symlink"] and hook["exclude_types"] == []
    from sealer import templating
    from sealer.hooksrepo import HooksRepo

    rendered = templating.render("pre-commit-config.yaml.j2", hooks=HooksRepo("file:///sealer.git", "v1"))
    (scan,) = [h for h in yaml.safe_load(rendered)["repos"][0]["hooks"] if h["id"] == "sealer-scan"]
    assert not {"types", "types_or", "exclude_types", "files", "exclude"} & set(scan)


def _zip(name: str, data: bytes) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "wrap"),
    [
        ("latin1.env", lambda text: b"caf\xe9\n" + text),  # a stray non-UTF-8 byte
        ("early-nul.txt", lambda text: b"\0head\n" + text),  # git and pre-commit call it binary
        ("utf16.ps1", lambda text: text.decode().encode("utf-16")),  # BOM, NUL in every other byte
        ("big.log", lambda text: b"x = 1\n" * 400_000 + text),  # past max_file_bytes: chunks
        ("bundle.zip", lambda text: _zip("inner/app.env", text)),
        ("App.dll", lambda text: b"MZ\x90\0" + bytes(range(256)) * 8 + text.decode().encode("utf-16-le")),
    ],
)
def test_a_key_in_a_file_pre_commit_calls_binary_is_blocked(
    repo: Path, name: str, wrap: Callable[[bytes], bytes]
) -> None:
    key = apikey.generate("prod")
    done = commit(repo, {name: wrap(f"API_KEY={key}\n".encode())})
    out = done.stdout + done.stderr
    assert done.returncode != 0 and not committed(repo), out
    assert "sealer-api-key" in out and key not in out


def test_a_file_sealer_cannot_open_fails_the_commit_with_one_line(repo: Path) -> None:
    done = commit(
        repo, {"vendor/tools.7z": b"7z\xbc\xaf\x27\x1c\0\4" + bytes(range(256)), "ok.txt": "fine\n"}
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0 and not committed(repo)
    lines = [line for line in out.splitlines() if "could not be examined" in line]
    assert len(lines) == 1 and "vendor/tools.7z" in lines[0] and "7z archive" in lines[0]


def test_an_image_passes_and_verbose_lists_it(repo: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256))
    done = commit(repo, {"docs/logo.png": png})
    assert done.returncode == 0, done.stdout + done.stderr
    listed = run(repo, sys.executable, "-m", "sealer", "scan", "-v", "docs/logo.png")
    assert (
        "skipped docs/logo.png: PNG image: not decoded, raw bytes scanned (media, told by content)"
        in listed.stderr
    )


def test_a_staged_file_named_like_an_option_is_scanned_not_obeyed(repo: Path) -> None:
    """pre-commit puts the file names after the hook's options with no `--`: `-v` would be read
    as verbose (its key never scanned) and `--update-baseline --baseline=b.json` would exit 0."""
    key = apikey.generate("prod")
    done = commit(
        repo,
        {"-v": f"API_KEY={key}\n", "--update-baseline": "x\n", "--baseline=b.json": "x\n", "a.txt": "ok\n"},
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0 and not committed(repo), out
    assert "-v:1:9: error: sealer-api-key" in out and key not in out
    assert not (repo / "b.json").exists()


@pytest.mark.parametrize("folder", ["", "deploy/"])
def test_a_key_as_a_symlinks_target_is_blocked(repo: Path, folder: str) -> None:
    """Git commits a symlink's target text as its blob; pre-commit hands symlinks to a hook
    only when it asks for them (its default `types: [file]` leaves them out)."""
    key = apikey.generate("prod")
    (repo / folder).mkdir(parents=True, exist_ok=True)
    (repo / f"{folder}link").symlink_to(f"{key}.env")
    assert commit(repo, {"README.md": "docs\n"}).returncode == 0
    assert run(repo, "git", "add", f"{folder}link").returncode == 0
    done = run(repo, "git", "commit", "-m", "a link")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert f"{folder}link:1:1: error: sealer-api-key" in out and key not in out


@pytest.mark.parametrize("flag", ["--skip-worktree", "--assume-unchanged"])
def test_a_staged_key_under_a_clean_working_copy_git_does_not_look_at_is_blocked(
    repo: Path, flag: str
) -> None:
    """pre-commit stashes what differs from the index, but Git (so pre-commit) never compares an
    entry flagged skip-worktree or assume-unchanged with the working tree: the clean copy there
    is not what the commit holds, the staged blob is."""
    key = apikey.generate("prod")
    (repo / "app.env").write_text(f"API_KEY={key}\n")
    assert run(repo, "git", "add", "app.env").returncode == 0
    assert run(repo, "git", "update-index", flag, "app.env").returncode == 0
    (repo / "app.env").write_text("API_KEY=\n")
    done = run(repo, "git", "commit", "-m", "a key")
    out = done.stdout + done.stderr
    assert done.returncode != 0 and not committed(repo), out
    assert "app.env:1:9: error: sealer-api-key" in out and key not in out
    assert (repo / "app.env").read_text() == "API_KEY=\n"  # the working copy left as it was


@pytest.mark.parametrize("flag", ["--skip-worktree", "--assume-unchanged"])
@pytest.mark.parametrize("others", [0, 12])
def test_a_staged_key_whose_flagged_working_copy_is_gone_is_blocked_once(
    repo: Path, flag: str, others: int
) -> None:
    """pre-commit names only files that exist: a staged entry flagged skip-worktree or
    assume-unchanged, its working copy deleted, was never scanned ("no files to check") and its
    key was committed. The hook finds it itself, reported once however many batches (one per
    core at least) pre-commit runs it in."""
    assert commit(repo, {"README.md": "docs\n"}).returncode == 0
    key = apikey.generate("prod")
    (repo / "app.env").write_text(f"API_KEY={key}\n")
    for i in range(others):
        (repo / f"doc{i}.md").write_text(f"page {i}\n")
    assert run(repo, "git", "add", "app.env", *(f"doc{i}.md" for i in range(others))).returncode == 0
    assert run(repo, "git", "update-index", flag, "app.env").returncode == 0
    (repo / "app.env").unlink()
    done = run(repo, "git", "commit", "-m", "a key")
    out = done.stdout + done.stderr
    assert done.returncode != 0 and commits(repo) == 1, out
    assert out.count("app.env:1:9: error: sealer-api-key") == 1 and key not in out, out
    assert not (repo / "app.env").exists()
    assert run(repo, "git", "update-index", "--no-" + flag[2:], "app.env").returncode == 0
    assert run(repo, "git", "rm", "-q", "--cached", "app.env").returncode == 0
    again = run(repo, "git", "commit", "--allow-empty", "-m", "no key")  # nothing left to find
    assert again.returncode == 0 and commits(repo) == 2, again.stdout + again.stderr
    assert len(list((repo / ".git").glob("sealer-hook-run-*"))) == 1  # only a run that had such entries


def staged_flagged_key_gone(repo: Path) -> str:
    """After a first commit: a key staged in app.env, the entry flagged skip-worktree and its
    working copy deleted; the key."""
    assert commit(repo, {"README.md": "docs\n"}).returncode == 0
    key = apikey.generate("prod")
    (repo / "app.env").write_text(f"API_KEY={key}\n")
    assert run(repo, "git", "add", "app.env").returncode == 0
    assert run(repo, "git", "update-index", "--skip-worktree", "app.env").returncode == 0
    (repo / "app.env").unlink()
    return key


def test_each_hook_entry_reports_a_flagged_entry_gone_from_disk(repo: Path) -> None:
    """Two entries of the scan hook (another option each): both report the staged key, where
    the first entry's claim of the run silenced the second."""
    config = yaml.safe_load(local_config())
    second = {**config["repos"][0]["hooks"][0], "id": "sealer-scan-verbose", "args": ["-v"]}
    config["repos"][0]["hooks"].append(second)
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    key = staged_flagged_key_gone(repo)
    done = run(repo, "git", "commit", "-m", "a key")
    out = done.stdout + done.stderr
    assert done.returncode != 0 and commits(repo) == 1, out
    assert out.count("app.env:1:9: error: sealer-api-key") == 2 and key not in out, out


@pytest.mark.parametrize("shape", ["folder", "fifo"])
def test_a_staged_key_whose_flagged_working_copy_is_no_file_is_blocked(repo: Path, shape: str) -> None:
    """pre-commit names only files and symlinks (the hook's types_or): a skip-worktree entry's
    working copy replaced by a folder or a FIFO was never named, nor read by the hook (it
    exists), and its staged key was committed."""
    key = staged_flagged_key_gone(repo)
    if shape == "folder":
        (repo / "app.env").mkdir()
        (repo / "app.env" / "notes.md").write_text("notes\n")
    else:
        os.mkfifo(repo / "app.env")
    done = run(repo, "git", "commit", "-m", "a key")
    out = done.stdout + done.stderr
    assert done.returncode != 0 and commits(repo) == 1, out
    assert out.count("app.env:1:9: error: sealer-api-key") == 1 and key not in out, out


def commits(repo: Path) -> int:
    return int(run(repo, "git", "rev-list", "--count", "HEAD").stdout)


@pytest.mark.parametrize("name", ["dist/app.min.js", "yarn.lock", "dist/app.js.map", "package-lock.json"])
def test_a_key_in_a_file_the_policys_path_globs_allow_is_blocked(repo: Path, name: str) -> None:
    """The built-in policy's globs spare lockfiles and minified code the entropy rules' false
    positives; a key proved by its checksum is none: a bundle built with the key inlined, its
    source map, a lockfile, are blocked all the same."""
    key = apikey.generate("prod")
    done = commit(repo, {name: f'!function(){{var c={{apiKey:"{key}"}};window.c=c}}();\n'})
    out = done.stdout + done.stderr
    assert done.returncode != 0 and not committed(repo), out
    assert f"{name}:1:" in out and "sealer-api-key" in out and key not in out


def test_lockfiles_and_minified_code_with_random_strings_pass(repo: Path) -> None:
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha512(b"left-pad").digest()).decode()
    lock = (
        '{"packages": {"node_modules/left-pad": {"version": "1.3.0", "resolved": '
        '"https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz", '
        f'"integrity": "sha512-{digest}"}}}}}}\n'
    )
    minified = 'var a={secret:"Xk93mQz7LpR2vT8wQ4nB6yHj",token:"' + hashlib.sha1(b"x").hexdigest() + '"};\n'
    done = commit(repo, {"package-lock.json": lock, "dist/app.min.js": minified})
    assert done.returncode == 0, done.stdout + done.stderr
    assert committed(repo)


@pytest.mark.parametrize("name", ["{key}.env", "config/{key}/app.yaml", "{key}_old.env"])
def test_a_key_in_a_staged_files_path_is_blocked_and_never_printed(repo: Path, name: str) -> None:
    """Git commits file and folder names in its trees: a key there is committed as surely."""
    key = apikey.generate("prod")
    done = commit(repo, {name.format(key=key): "replicaCount: 2\n"})
    out = done.stdout + done.stderr
    assert done.returncode != 0 and not committed(repo), out
    masked = name.format(key=f"slr_…[{len(key)} chars]")
    assert f"{masked}:1:{name.index('{') + 1}: error: sealer-api-key" in out and "(in its path)" in out
    assert key not in out


@pytest.mark.parametrize(
    ("clean", "on_disk"),
    [
        ("base64 -d", lambda line: base64.b64encode(line)),  # the blob holds the key, the disk base64
        ("echo version https://git-lfs.github.com/spec/v1", lambda line: line),  # LFS-like: the disk
    ],
    ids=["decoding", "pointer"],
)
def test_a_file_a_clean_filter_rewrites_is_scanned_as_committed_and_as_on_disk(
    repo: Path, clean: str, on_disk: Callable[[bytes], bytes]
) -> None:
    """A `filter` driver's clean command turns the working-tree file into the blob Git commits
    (pre-commit's stash compares through it, so nothing is stashed): both are scanned."""
    key = apikey.generate("prod")
    assert run(repo, "git", "config", "filter.conf.clean", clean).returncode == 0
    assert run(repo, "git", "config", "filter.conf.smudge", "cat").returncode == 0
    done = commit(
        repo, {".gitattributes": "*.cfg filter=conf\n", "app.cfg": on_disk(f"API_KEY={key}\n".encode())}
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0 and not committed(repo), out
    assert "app.cfg:1:9: error: sealer-api-key" in out and key not in out
