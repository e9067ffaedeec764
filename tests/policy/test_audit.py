"""`sealer audit`: the inventory's facts, the aligned table, Markdown, and the HTML page in Chromium."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from support.policy_repos import ENVS, RepoFactory, age_keys, rendered_tables, sealer

from sealer import config
from sealer.policy import audit_output
from sealer.records import parse_iso

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ACTOR = "Sealer Test <test@sealer.invalid>"


@pytest.fixture
def aged_repo(repo_factory: RepoFactory) -> Path:
    """dev fine, staging overdue (35 of 30 days), production due (86 of 90 days)."""
    root = repo_factory()
    age_keys(root, "dev", 10)
    age_keys(root, "staging", 35)
    age_keys(root, "production", 86)
    return root


def inventory_of(root: Path, *args: str) -> dict[str, Any]:
    result = sealer(root, "audit", "--output", "json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_inventory_facts(aged_repo: Path) -> None:
    inv = inventory_of(aged_repo)
    assert [env["name"] for env in inv["environments"]] == list(ENVS)
    assert (inv["errors"], inv["warnings"]) == (1, 1)
    by_env = {env["name"]: env for env in inv["environments"]}
    expected = {
        "dev": ("ok", 10, 180, 180),
        "staging": ("overdue", 35, 30, 30),
        "production": ("due", 86, 90, 90),
    }
    for name, (status, age, limit, rotation) in expected.items():
        env = by_env[name]
        (key,) = env["keys"]
        created = parse_iso(key["created"])
        assert created is not None
        assert (key["name"], key["status"], key["age_days"]) == ("apiKey", status, age)
        assert env["max_age_days"] == limit
        assert parse_iso(key["due"]) == created + dt.timedelta(days=rotation)
        assert parse_iso(key["limit"]) == created + dt.timedelta(days=limit)
        assert key["days_left"] == limit - age
        assert (key["actor"], env["last_actor"], env["last_rotation"]) == (ACTOR, ACTOR, key["created"])
        assert key["key_id"].startswith("kid_") and key["ledger_status"] == "active"
    bits = {name: env["certificates"][0]["key_bits"] for name, env in by_env.items()}
    assert bits == {"dev": 2048, "staging": 3072, "production": 4096}
    for env in by_env.values():
        (cert,) = env["certificates"]
        cfg_cluster = config.load(aged_repo).env(env["name"]).clusters[0]
        assert (cert["fingerprint"], cert["status"]) == (cfg_cluster.fingerprint, "ok")
        assert cert["key_type"] == "RSA"
        assert 3640 <= cert["days_left"] <= 3651
    assert [p["rule"] for p in by_env["staging"]["problems"]] == ["key-age"]
    assert [p["level"] for p in by_env["production"]["problems"]] == ["warning"]


def test_grace_keys_and_missing_keys_are_listed(repo_factory: RepoFactory) -> None:
    root = repo_factory({"dev": None})
    before = inventory_of(root)["environments"][1]["keys"][0]["key_id"]
    assert sealer(root, "rotate", "staging", "--grace", "3d", "--no-branch").exit_code == 0
    inv = inventory_of(root)
    dev, staging, _ = inv["environments"]
    assert (dev["keys"][0]["status"], dev["keys"][0]["key_id"], dev["certificates"]) == ("missing", None, [])
    assert dev["last_rotation"] is None
    assert [(g["name"], g["key_id"]) for g in staging["grace"]] == [("apiKey", before)]
    assert staging["keys"][0]["key_id"] != before
    assert "KEY ID (GRACE)" in sealer(root, "audit").stdout


def column_cells(lines: list[str], headers: tuple[str, ...]) -> list[list[str]]:
    """Cut each row at the header's column starts: an aligned table gives back its cells."""
    starts = [lines[0].index(h) for h in headers]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [[line[a:b].strip() for a, b in bounds] for line in lines[1:]]


def test_table_is_aligned(aged_repo: Path) -> None:
    result = sealer(aged_repo, "audit")
    assert result.exit_code == 0
    assert not ANSI.search(result.stdout)  # CliRunner is no terminal
    blocks = result.stdout.split("\n\n")
    keys_block = next(b for b in blocks if b.startswith("ENV  "))
    inv = inventory_of(aged_repo)
    key_cells = column_cells(keys_block.splitlines(), audit_output.KEY_HEADERS)
    assert key_cells == [list(r) for r in audit_output.key_rows(inv)]
    certs_block = next(b for b in blocks if "FINGERPRINT" in b)
    cert_cells = column_cells(certs_block.splitlines(), audit_output.CERT_HEADERS)
    assert cert_cells == [list(r) for r in audit_output.cert_rows(inv)]
    assert result.stdout.rstrip().endswith("policy: 1 error, 1 warning (run `sealer check` for what to fix)")


def test_table_colours_only_change_escapes(aged_repo: Path) -> None:
    inv = inventory_of(aged_repo)
    coloured = audit_output.table(inv, color=True)
    assert "\x1b[31moverdue" in coloured and "\x1b[33mdue" in coloured and "\x1b[32mok" in coloured
    assert ANSI.sub("", coloured) == audit_output.table(inv, color=False)


def test_markdown_renders_key_and_certificate_tables(aged_repo: Path) -> None:
    result = sealer(aged_repo, "audit", "-o", "markdown")
    assert result.exit_code == 0
    keys, certs = rendered_tables(result.stdout)
    inv = inventory_of(aged_repo)
    assert keys == [list(audit_output.KEY_HEADERS), *map(list, audit_output.key_rows(inv))]
    assert certs == [list(audit_output.CERT_HEADERS), *map(list, audit_output.cert_rows(inv))]
    assert keys[1][-1] == ACTOR  # `<…>` escaped, not swallowed as HTML or an autolink


def html_page(root: Path) -> str:
    result = sealer(root, "audit", "--output", "html")
    assert result.exit_code == 0
    return result.stdout


def test_html_page_is_self_contained(aged_repo: Path) -> None:
    page = html_page(aged_repo)
    assert page.startswith("<!DOCTYPE html>")
    for env in ENVS:
        assert f'<section id="env-{env}" class="environment">' in page
        assert f"<h2>{env}</h2>" in page
    assert page.count('<g class="bar"') == 3
    assert "<script" not in page and "<link" not in page and "src=" not in page and "@import" not in page
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', page))
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]
    assert "Sealer Test &lt;test@sealer.invalid&gt;" in page and ACTOR not in page


def test_chart_bars_scale_with_age_and_limit(aged_repo: Path) -> None:
    chart = audit_output.chart(inventory_of(aged_repo))
    bars = {bar["label"]: bar for bar in chart["bars"]}
    assert list(bars) == ["dev / apiKey", "staging / apiKey", "production / apiKey"]
    left = chart["label_width"]
    for label, age, limit in (
        ("dev / apiKey", 10, 180),
        ("staging / apiKey", 35, 30),
        ("production / apiKey", 86, 90),
    ):
        assert bars[label]["width"] / (bars[label]["limit_x"] - left) == pytest.approx(age / limit, rel=0.01)
    assert bars["staging / apiKey"]["status"] == "overdue"
    assert bars["staging / apiKey"]["width"] > bars["staging / apiKey"]["limit_x"] - left
    assert max(bar["limit_x"] for bar in chart["bars"]) < chart["width"]


def png_facts(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the decompressed image data) of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed (Debian package `chromium`; ./dev installs it)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1200,900",
    ]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_html_page_in_headless_chromium(aged_repo: Path, tmp_path: Path) -> None:
    page = tmp_path / "audit.html"
    page.write_text(html_page(aged_repo), encoding="utf-8")
    dom = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    section = r'<section id="env-([a-z0-9-]+)" class="environment">\s*<h2>([^<]*)</h2>'
    headings = re.findall(section, dom.stdout)
    assert headings == [(env, env) for env in ENVS]
    assert "<svg" in dom.stdout and dom.stdout.count('class="bar"') == 3
    shot = tmp_path / "audit.png"
    done = chromium(f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "profile-shot")
    assert done.returncode == 0, done.stderr[-2000:]
    width, height, distinct = png_facts(shot.read_bytes())
    assert (width, height) == (1200, 900)
    assert shot.stat().st_size > 10_000 and distinct > 32  # text, tables and the chart, not a blank page
