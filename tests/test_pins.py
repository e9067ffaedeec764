"""`sealer cert add|status|fetch`: controller certificates pinned per environment and cluster."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from support.env_repos import (
    Controller,
    Controllers,
    invoke,
    load_yaml,
    reissued_cert,
    rotate,
    run_main,
    snapshot,
    unfit_cert,
    unseal_values,
)
from support.fake_http import trickling
from support.fake_kube import FakeKube
from support.git import commit_all
from support.git import init_repo as make_repo

from sealer import apikey, certs, config, ledger
from sealer.durations import days_left
from sealer.errors import DecryptError


def _fp(controller: Controller) -> str:
    """Computed here, not by sealer: SHA-256 of the DER certificate."""
    return hashlib.sha256(controller.pair.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _add(root: Path, env: str, cert: Path, *extra: str) -> Any:
    return invoke(root, "cert", "add", env, "--file", str(cert), *extra)


def _staging(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(root / "sealer.yaml")["environments"]["staging"]
    return data


def _comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#") or " # " in line]


# -- cert add ---------------------------------------------------------------------------------


def test_add_pins_copies_and_records(repo: Path, controllers: Controllers) -> None:
    staging = controllers["staging"]

    result = _add(repo, "staging", staging.cert)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"pinned {_fp(staging)} for staging/staging"
    assert (repo / "certs" / "staging.pem").read_bytes() == staging.cert.read_bytes()
    assert _staging(repo)["clusters"] == [
        {
            "name": "staging",
            "cert": "certs/staging.pem",
            "fingerprint": _fp(staging),
            "valuesFile": "deploy/staging/values.yaml",
        }
    ]
    assert "certHistory" not in _staging(repo)
    assert config.load(repo).env("dev").clusters == ()


def test_comments_survive_edits(repo: Path, controllers: Controllers) -> None:
    path = repo / "sealer.yaml"
    path.write_text(
        path.read_text().replace("  staging:\n", "  staging:  # owned by team-platform\n") + "# last words\n"
    )
    before = path.read_text()

    _add(repo, "staging", controllers["staging"].cert)
    _add(repo, "staging", controllers["staging-next"].cert)
    _add(repo, "dev", controllers["dev"].cert)

    after = path.read_text()
    assert _comments(after) == _comments(before)
    assert "  staging:  # owned by team-platform\n" in after and after.endswith("# last words\n")
    untouched = [line for line in before.splitlines() if "clusters: []" not in line]
    assert all(line in after.splitlines() for line in untouched)


def test_readding_the_same_cert_is_a_no_op(repo: Path, controllers: Controllers) -> None:
    staging = controllers["staging"]
    _add(repo, "staging", staging.cert)
    before = snapshot(repo)

    result = _add(repo, "staging", staging.cert, "--output", "json")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "env": "staging",
        "cluster": "staging",
        "fingerprint": _fp(staging),
        "previous": None,
        "changed": False,
        "sealing": True,
        "restored": None,
    }
    assert snapshot(repo) == before


def test_readding_restores_a_deleted_copy(repo: Path, controllers: Controllers) -> None:
    staging = controllers["staging"]
    _add(repo, "staging", staging.cert)
    config_before = (repo / "sealer.yaml").read_bytes()
    (repo / "certs" / "staging.pem").unlink()

    result = _add(repo, "staging", staging.cert, "-o", "json")

    assert result.exit_code == 0
    assert (repo / "certs" / "staging.pem").read_bytes() == staging.cert.read_bytes()
    assert (repo / "sealer.yaml").read_bytes() == config_before
    # A file was written: never reported as "nothing changed".
    assert (json.loads(result.stdout)["changed"], json.loads(result.stdout)["restored"]) == (
        True,
        "certs/staging.pem",
    )
    (repo / "certs" / "staging.pem").unlink()
    text = _add(repo, "staging", staging.cert).stdout
    assert (
        text.strip() == f"staging/staging already holds {_fp(staging)}: restored its copy certs/staging.pem"
    )


def _lock_free(root: Path) -> bool:
    """Whether no one holds the repository's lock (a flock on another open of the file)."""
    path = root / ".git" / "sealer.lock"
    if not path.exists():
        return True
    with path.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def test_cert_add_and_remove_decide_under_the_lock(
    repo: Path, controllers: Controllers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `cert add` restores and what `cert remove` deletes is decided from sealer.yaml read
    with the lock held: a concurrent `cert remove` cannot change it between the read and the write."""
    old, new = controllers["staging"], controllers["staging-next"]
    _add(repo, "staging", old.cert)
    _add(repo, "staging", new.cert)
    (repo / "certs" / "staging.pem").unlink()
    reads: list[bool] = []
    real_load = config.load

    def watched(root: Path, *args: Any, **kwargs: Any) -> Any:
        reads.append(_lock_free(repo))
        return real_load(root, *args, **kwargs)

    monkeypatch.setattr(config, "load", watched)

    restored = _add(repo, "staging", old.cert, "--keep-sealing", "-o", "json")
    removed = invoke(repo, "cert", "remove", "staging", _fp(old))

    assert (restored.exit_code, removed.exit_code) == (0, 0), restored.stderr + removed.stderr
    assert json.loads(restored.stdout)["restored"] == "certs/staging.pem"
    assert not (repo / "certs" / "staging.pem").exists()
    assert len(reads) >= 3 and not any(reads)  # every read, the remove's re-read included


def test_cert_remove_of_a_short_prefix_or_unknown_cluster_names_what_to_give(
    repo: Path, controllers: Controllers
) -> None:
    """A careless `cert remove`: a prefix shorter than 8 digits, or a cluster typed wrong, is
    refused in one line naming what there is to give (the set's fingerprints, the clusters)."""
    first, second = controllers["staging"], controllers["staging-next"]
    _add(repo, "staging", first.cert)
    _add(repo, "staging", second.cert)
    short = invoke(repo, "cert", "remove", "staging", _fp(first)[:4])
    assert (short.exit_code, short.stderr) == (
        2,
        f"sealer: staging/staging: '{_fp(first)[:4]}' names no single certificate of the set: give 8 or "
        f"more hex digits of one of {_fp(first)[:16]}…, {_fp(second)[:16]}…\n",
    )
    typo = invoke(repo, "cert", "remove", "staging", _fp(first), "--cluster", "stagin")
    assert (typo.exit_code, typo.stderr) == (
        2,
        "sealer: staging has no cluster 'stagin' (its clusters: staging; --cluster names one)\n",
    )


def test_a_renewed_cert_joins_the_set_and_seals(repo: Path, controllers: Controllers) -> None:
    first, second, third = controllers["staging"], controllers["staging-next"], controllers["staging-third"]
    _add(repo, "staging", first.cert)

    result = _add(repo, "staging", second.cert, "--output", "json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["previous"] == _fp(first)
    added = f"certs/staging-{_fp(second)[:12]}.pem"
    (cluster,) = _staging(repo)["clusters"]
    assert [(c["cert"], c["fingerprint"]) for c in cluster["certs"]] == [
        ("certs/staging.pem", _fp(first)),
        (added, _fp(second)),
    ]
    assert (
        cluster["sealWith"] == _fp(second) and "cert" not in cluster and "certHistory" not in _staging(repo)
    )
    assert (repo / "certs" / "staging.pem").read_bytes() == first.cert.read_bytes()  # the old one stays
    assert (repo / added).read_bytes() == second.cert.read_bytes()

    _add(repo, "staging", third.cert, "--keep-sealing")
    pinned = config.load(repo).env("staging").clusters[0]
    assert [c.fingerprint for c in pinned.cert_set] == [_fp(first), _fp(second), _fp(third)]
    assert (pinned.fingerprint, pinned.cert) == (_fp(second), added)

    assert invoke(repo, "cert", "remove", "staging", _fp(second)[:12]).exit_code == 2  # it seals
    assert invoke(repo, "cert", "remove", "staging", _fp(first)[:12]).exit_code == 0
    assert [c.fingerprint for c in config.load(repo).env("staging").clusters[0].cert_set] == [
        _fp(second),
        _fp(third),
    ]
    assert _staging(repo)["certHistory"] == [_fp(first)]
    assert not (repo / "certs" / "staging.pem").exists()


@pytest.mark.parametrize(
    "kind, message",
    [
        ("expired", "certificate expired on"),
        ("rsa1024", "1024-bit RSA key is too weak"),
        ("ec", "sealing needs RSA"),
    ],
)
def test_refuses_unfit_certificates(
    repo: Path,
    controllers: Controllers,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    message: str,
) -> None:
    _add(repo, "staging", controllers["staging"].cert)
    bad = tmp_path / f"{kind}.pem"
    bad.write_bytes(unfit_cert(kind))
    before = snapshot(repo)

    code, _, err = run_main(repo, capsys, "cert", "add", "staging", "--file", str(bad))

    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert snapshot(repo) == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "--file", "{cert}"], "unknown environment 'nope'"),
        (["staging", "--file", "{missing}"], "cannot read certificate"),
        (["staging", "--file", "{not_pem}"], "not a PEM certificate"),
        (
            ["staging", "--file", "{cert}", "--cluster", "../../etc"],
            "cluster name '../../etc' must be a DNS label",
        ),
        (["staging", "--file", "{cert}", "--cluster", "EU"], "cluster name 'EU' must be a DNS label"),
    ],
)
def test_bad_input_changes_nothing(
    repo: Path,
    controllers: Controllers,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    (tmp_path / "not.pem").write_text("hello\n")
    paths = {
        "cert": controllers["staging"].cert,
        "missing": tmp_path / "missing.pem",
        "not_pem": tmp_path / "not.pem",
    }
    before = snapshot(repo)

    code, _, err = run_main(repo, capsys, "cert", "add", *[a.format(**paths) for a in args])

    assert code == 2
    assert err.count("\n") == 1 and message in err
    assert snapshot(repo) == before


def test_a_cert_path_of_another_environment_is_not_overwritten(
    tmp_path: Path, controllers: Controllers
) -> None:
    root = make_repo(tmp_path / "repo")
    invoke(root, "init", "--env", "staging", "--env", "staging-eu")
    _add(root, "staging-eu", controllers["staging"].cert)  # certs/staging-eu.pem
    before = snapshot(root)

    result = _add(
        root, "staging", controllers["eu"].cert, "--cluster", "eu"
    )  # would be certs/staging-eu.pem too

    assert result.exit_code == 2
    assert "certs/staging-eu.pem already holds the pin of staging-eu/staging-eu" in result.stderr
    assert snapshot(root) == before


def test_a_cert_another_environment_pins_is_refused(
    pinned: Path, controllers: Controllers, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` would fail it (cert-distinct): one controller key would open both environments'."""
    before = snapshot(pinned)
    for extra in ([], ["--keep-sealing"]):
        code, out, err = run_main(
            pinned, capsys, "cert", "add", "dev", "--file", str(controllers["staging"].cert), *extra
        )
        assert (code, out) == (2, "") and err.count("\n") == 1, err
        assert f"certificate {_fp(controllers['staging'])[:16]}… is already pinned for staging/staging" in err
    assert snapshot(pinned) == before


def test_another_certificate_of_a_key_another_environment_pins_is_refused(
    pinned: Path, controllers: Controllers, tmp_path: Path
) -> None:
    """A certificate re-issued for staging's controller key has another fingerprint, yet that
    one key would open both environments' entries: `cert add` refuses it as it refuses staging's
    own, and `check` fails a sealer.yaml that pins it by hand."""
    reissued = tmp_path / "reissued.crt"
    reissued.write_bytes(reissued_cert(controllers["staging"]))
    before = snapshot(pinned)
    result = _add(pinned, "dev", reissued)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "already pinned for staging/staging (the same key in another certificate)" in result.stderr
    assert snapshot(pinned) == before
    with config.edit(pinned) as doc:  # pinned by hand, the policy allowing it for dev alone
        doc["environments"]["dev"]["policy"] = {"cert-distinct": {"enabled": False}}
    assert _add(pinned, "dev", reissued).exit_code == 2  # staging keeps the rule
    (pinned / "certs" / "dev.pem").write_bytes(reissued.read_bytes())
    fp = certs.fingerprint(certs.load_pinned(reissued))
    with config.edit(pinned) as doc:
        doc["environments"]["dev"]["clusters"] = [
            {
                "name": "dev",
                "cert": "certs/dev.pem",
                "fingerprint": fp,
                "valuesFile": "deploy/dev/values.yaml",
            }
        ]
    check = invoke(pinned, "check")
    assert check.exit_code == 1, check.output
    assert "is also pinned for dev/dev (the same key in another certificate)" in check.output


def test_a_cert_the_policy_lets_environments_share_is_pinned(pinned: Path, controllers: Controllers) -> None:
    for env in ("dev", "staging"):
        with config.edit(pinned) as doc:
            doc["environments"][env]["policy"] = {"cert-distinct": {"enabled": False}}
    result = _add(pinned, "dev", controllers["staging"].cert)
    assert result.exit_code == 0, result.stderr
    assert config.load(pinned).env("dev").clusters[0].fingerprint == _fp(controllers["staging"])
    assert invoke(pinned, "check").exit_code == 0


def test_a_cert_shared_while_the_other_environment_keeps_the_rule_is_refused(
    pinned: Path, controllers: Controllers
) -> None:
    with config.edit(pinned) as doc:
        doc["environments"]["dev"]["policy"] = {"cert-distinct": {"enabled": False}}
    result = _add(pinned, "dev", controllers["staging"].cert)
    assert result.exit_code == 2 and "already pinned for staging/staging" in result.stderr


def test_a_cert_file_that_cannot_be_written_leaves_sealer_yaml_as_it_was(
    repo: Path, controllers: Controllers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hostile certs/ (a symlink to a folder elsewhere): the renewed certificate cannot be
    written there, so sealer.yaml must not pin it either (exit 2 says nothing changed)."""
    _add(repo, "staging", controllers["staging"].cert)
    elsewhere = tmp_path / "elsewhere"
    (repo / "certs").rename(elsewhere)
    (repo / "certs").symlink_to(elsewhere)
    before, outside = snapshot(repo), snapshot(elsewhere)

    code, _, err = run_main(
        repo, capsys, "cert", "add", "staging", "--file", str(controllers["staging-next"].cert)
    )

    assert code == 2 and err.count("\n") == 1 and "symlink" in err
    assert snapshot(repo) == before and snapshot(elsewhere) == outside


# -- several clusters per environment -------------------------------------------------------------


def test_a_cluster_named_as_yaml_1_1_reads_a_boolean_is_pinned_under_its_name(
    repo: Path, controllers: Controllers
) -> None:
    """`no` is a DNS label, but written plain PyYAML reads it as false: cert add refused the
    sealer.yaml it had just written (`…clusters[0].name: must be a DNS label, got False`)."""
    result = _add(repo, "staging", controllers["eu"].cert, "--cluster", "no")
    assert result.exit_code == 0, result.stderr
    assert [c["name"] for c in _staging(repo)["clusters"]] == ["no"]
    assert config.load(repo).env("staging").clusters[0].name == "no"


def test_a_new_cluster_a_typo_away_from_one_is_refused_unless_confirmed(
    repo: Path, controllers: Controllers
) -> None:
    """`--cluster stagign` for `staging` would pin a cluster no one runs, sealed for by every
    rotation: refused in one line (exit 2, nothing written) naming the near one, unless
    --new-cluster says a new cluster is meant; a name near none is added as before."""
    assert _add(repo, "staging", controllers["staging"].cert).exit_code == 0
    before = snapshot(repo)
    typo = _add(repo, "staging", controllers["eu"].cert, "--cluster", "stagign")
    assert (typo.exit_code, typo.stdout, typo.stderr) == (
        2,
        "",
        "sealer: staging has no cluster 'stagign': did you mean 'staging'? "
        "(--new-cluster adds it as a new cluster)\n",
    )
    assert snapshot(repo) == before
    assert _add(repo, "staging", controllers["eu"].cert, "--cluster", "eu").exit_code == 0  # near none
    meant = _add(repo, "staging", controllers["us"].cert, "--cluster", "staging-2", "--new-cluster")
    assert meant.exit_code == 0, meant.stderr
    assert [c["name"] for c in _staging(repo)["clusters"]] == ["staging", "eu", "staging-2"]
    again = _add(repo, "staging", controllers["us"].cert, "--cluster", "staging-2", "--new-cluster")
    assert again.exit_code == 0, again.stderr  # a setup script run twice: the cluster holds it already


@pytest.mark.parametrize(
    "known, name, refused",
    [
        ("us", "su", True),  # two letters swapped: difflib's ratio let it pass
        ("eu", "ue", True),
        ("us", "uk", False),  # two-letter names a letter apart are regions each
        ("us", "eu", False),
        ("prod", "prdo", True),
        ("prod", "prd", True),
        ("prod", "pro-d2", False),
        ("staging", "stagign", True),
        ("staging", "stagin", True),
        ("staging", "staging-2", True),  # two edits in a longer name: --new-cluster says it is meant
        ("prod-eu", "prod-us", True),
        ("prod-eu", "prod-usa", False),
        ("staging", "eu", False),
    ],
)
def test_a_cluster_name_is_a_typo_by_edits_counting_a_swap_as_one(
    repo: Path, known: str, name: str, refused: bool
) -> None:
    import dataclasses

    from sealer import cert_pins
    from sealer.errors import BadInput

    env = dataclasses.replace(
        config.load(repo).env("staging"), clusters=(config.Cluster(known, "certs/c.pem", "ab", "v.yaml"),)
    )
    if refused:
        with pytest.raises(BadInput, match=f"has no cluster '{name}': did you mean '{known}'"):
            cert_pins.check_cluster_name(env, name)
    else:
        cert_pins.check_cluster_name(env, name)
    cert_pins.check_cluster_name(env, name, new_cluster=True)  # --new-cluster: always taken


def test_clusters_each_get_their_own_ciphertext(repo: Path, controllers: Controllers) -> None:
    eu, us = controllers["eu"], controllers["us"]
    assert _add(repo, "staging", eu.cert, "--cluster", "eu").exit_code == 0
    assert _add(repo, "staging", us.cert, "--cluster", "us").exit_code == 0
    clusters = {c["name"]: c for c in _staging(repo)["clusters"]}
    assert clusters["eu"] == {
        "name": "eu",
        "cert": "certs/staging-eu.pem",
        "fingerprint": _fp(eu),
        "valuesFile": "deploy/staging/values.yaml",
    }
    assert clusters["us"] == {
        "name": "us",
        "cert": "certs/staging-us.pem",
        "fingerprint": _fp(us),
        "valuesFile": "deploy/staging/values-us.yaml",
    }
    commit_all(repo, "pin two clusters")

    rotate(repo)

    record = ledger.load(repo, "staging")[-1]
    assert set(record.sealed_with) == {_fp(eu), _fp(us)}
    plain = {}
    for name, controller, other in (("eu", eu, us), ("us", us, eu)):
        values = repo / clusters[name]["valuesFile"]
        tree = load_yaml(values)["sealer"]
        sealed = load_yaml(repo / "sealed" / "staging" / f"{name}.yaml")
        assert (tree["cluster"], tree["certFingerprint"]) == (name, _fp(controller))
        assert tree["encryptedData"] == sealed["spec"]["encryptedData"]
        plain[name] = unseal_values(values, controller)["apiKey"]
        with pytest.raises(DecryptError):
            unseal_values(values, other)
    assert plain["eu"] == plain["us"]
    assert apikey.fingerprint(plain["eu"].decode()) == record.fingerprint
    eu_values, us_values = (load_yaml(repo / clusters[n]["valuesFile"])["sealer"] for n in ("eu", "us"))
    assert eu_values["encryptedData"]["apiKey"] != us_values["encryptedData"]["apiKey"]


# -- cert status ---------------------------------------------------------------------------------


def _status(root: Path, *envs: str) -> tuple[int, list[dict[str, Any]]]:
    result = invoke(root, "cert", "status", *envs, "--output", "json")
    return result.exit_code, json.loads(result.stdout)


def test_status_refuses_a_cert_path_in_sealer_yaml_that_would_forge_a_line(pinned: Path) -> None:
    """sealer.yaml is anyone's text: a newline in a certificate's path is refused in one line."""
    forged = "certs/x\nproduction/production: ok forged.pem"
    (pinned / forged).parent.mkdir(parents=True)
    (pinned / "certs" / "staging.pem").rename(pinned / forged)
    text = (pinned / "sealer.yaml").read_text()
    (pinned / "sealer.yaml").write_text(
        text.replace("cert: certs/staging.pem", f"cert: {json.dumps(forged)}")
    )
    result = invoke(pinned, "cert", "status")
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert result.stderr.count("\n") == 1 and "holds a control character" in result.stderr


def test_status_of_a_fresh_pin(pinned: Path, controllers: Controllers) -> None:
    code, rows = _status(pinned, "staging")

    assert code == 0
    (row,) = rows
    assert row["pinned"] is True
    staging = controllers["staging"]
    assert (row["env"], row["cluster"], row["fingerprint"]) == ("staging", "staging", _fp(staging))
    assert dt.datetime.fromisoformat(row["expires"]) == staging.pair.cert.not_valid_after_utc
    left = staging.pair.cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    assert row["days_left"] in (days_left(left), days_left(left) - 1)  # counted as audit counts them
    assert days_left(dt.timedelta(days=-1.5)) == -1 and days_left(dt.timedelta(days=4.9)) == 5
    assert (row["missing"], row["sealed_with_pin"], row["stale"], row["file_matches_pin"]) == (
        ["apiKey"],
        [],
        [],
        True,
    )


def test_status_follows_rotation_renewal_and_removal(pinned: Path, controllers: Controllers) -> None:
    old, new = controllers["staging"], controllers["staging-next"]
    rotate(pinned)
    code, rows = _status(pinned, "staging")
    assert code == 0
    assert (rows[0]["sealed_with_pin"], rows[0]["stale"], rows[0]["missing"]) == (["apiKey"], [], [])

    _add(pinned, "staging", new.cert)
    code, rows = _status(pinned, "staging")
    assert code == 0  # sealed with a certificate the controller still holds
    assert (rows[0]["fingerprint"], rows[0]["sealed_with_pin"], rows[0]["sealed_with_older"]) == (
        _fp(new),
        [],
        ["apiKey"],
    )
    assert [(c["fingerprint"], c["sealing"], c["sealed"], c["age_days"]) for c in rows[0]["certs"]] == [
        (
            _fp(old),
            False,
            ["apiKey"],
            (dt.datetime.now(dt.timezone.utc) - old.pair.cert.not_valid_before_utc).days,
        ),
        (_fp(new), True, [], 0),
    ]
    text = invoke(pinned, "cert", "status")
    assert text.exit_code == 0 and "sealed with an older certificate: apiKey" in text.stdout

    assert invoke(pinned, "cert", "remove", "staging", _fp(old)).exit_code == 0
    code, rows = _status(pinned, "staging")
    assert code == 1 and rows[0]["stale"] == ["apiKey"]

    commit_all(pinned, "renewed")
    rotate(pinned)
    code, rows = _status(pinned, "staging")
    assert code == 0 and rows[0]["sealed_with_pin"] == ["apiKey"]


def test_status_lists_an_environment_with_no_certificate_pinned(pinned: Path) -> None:
    """`sealer init` leaves dev and production unpinned: listed as such, not left out (exit 0:
    nothing is stale), in JSON a row of a pinned one's fields, empty, every entry missing."""
    code, rows = _status(pinned)

    assert code == 0
    assert [(r["env"], r["cluster"], r["pinned"]) for r in rows] == [
        ("dev", None, False),
        ("staging", "staging", True),
        ("production", None, False),
    ]
    assert set(rows[0]) == set(rows[1])
    assert (rows[0]["fingerprint"], rows[0]["certs"], rows[0]["missing"]) == (None, [], ["apiKey"])
    text = invoke(pinned, "cert", "status")
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0] == "dev: no certificate pinned (sealer cert add dev --file tls.crt)"
    assert lines[-1] == "production: no certificate pinned (sealer cert add production --file tls.crt)"


def test_status_json_nulls_are_those_the_readme_names(pinned: Path) -> None:
    """README (cert status): an unpinned row's null fields are named there, each one; a pinned
    row, and each certificate of its set, has none (`days_left: null` means unpinned)."""
    rotate(pinned)
    _, rows = _status(pinned)
    unpinned = {r["env"]: r for r in rows if not r["pinned"]}["dev"]
    nulls = sorted(k for k, v in unpinned.items() if v is None)
    assert nulls == ["cluster", "days_left", "expires", "fingerprint"]
    assert (unpinned["certs"], unpinned["file_matches_pin"]) == ([], True)
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    said = readme[readme.index("`sealer cert status` shows") :][:600]
    named = said[: said.index(" null")]
    assert [k for k in nulls if f"`{k}`" not in named] == [], said
    for row in (r for r in rows if r["pinned"]):
        assert [k for k, v in row.items() if v is None] == []
        assert [k for c in row["certs"] for k, v in c.items() if v is None and k != "added"] == []


def test_status_flags_unknown_sealing_cert_and_replaced_file(pinned: Path, controllers: Controllers) -> None:
    rotate(pinned)
    _add(pinned, "staging", controllers["staging-next"].cert)
    assert invoke(pinned, "cert", "remove", "staging", _fp(controllers["staging"])).exit_code == 0
    with config.edit(pinned) as doc:
        del doc["environments"]["staging"]["certHistory"]  # the old pin is forgotten
    code, rows = _status(pinned, "staging")
    assert code == 1 and (rows[0]["other"], rows[0]["stale"]) == (["apiKey"], [])

    sealing = pinned / f"certs/staging-{_fp(controllers['staging-next'])[:12]}.pem"
    sealing.write_bytes(controllers["dev"].cert.read_bytes())
    code, rows = _status(pinned, "staging")
    assert code == 1 and rows[0]["file_matches_pin"] is False


@pytest.mark.parametrize(
    "setup, message",
    [
        ("unknown", "unknown environment 'nope'"),
        ("deleted", "cannot read certificate"),
        ("broken", "not a SealedSecret"),
    ],
)
def test_status_bad_input(pinned: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str) -> None:
    rotate(pinned)
    if setup == "deleted":
        (pinned / "certs" / "staging.pem").unlink()
    if setup == "broken":
        (pinned / "sealed" / "staging" / "staging.yaml").write_text("- a list\n")

    code, _, err = run_main(pinned, capsys, "cert", "status", "nope" if setup == "unknown" else "staging")

    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


# -- cert fetch, against a fake Kubernetes API server through the real client ---------------------


def _serve(
    server: FakeKube,
    controller: Controller,
    name: str = "sealed-secrets-controller",
    namespace: str = "kube-system",
) -> None:
    server.add_service(
        namespace, name, [("http", 8080), ("metrics", 8081)], {"/v1/cert.pem": controller.cert.read_bytes()}
    )


def _fetch(root: Path, kubeconfig: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = invoke(
        root, "cert", "fetch", "staging", "--kubeconfig", str(kubeconfig), "--output", "json", *extra
    )
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.slow
def test_fetch_matching_pin(
    pinned: Path, controllers: Controllers, kube_server: FakeKube, kubeconfig: Path
) -> None:
    _serve(kube_server, controllers["staging"])
    before = snapshot(pinned)

    code, data = _fetch(pinned, kubeconfig)

    assert code == 0
    assert data["fetched"] == data["pinned"] == _fp(controllers["staging"])
    assert snapshot(pinned) == before
    assert kube_server.requests_to("/services/sealed-secrets-controller:http/proxy/v1/cert.pem") == 1


@pytest.mark.slow
def test_fetch_cut_off_by_the_request_bound_pins_nothing(
    pinned: Path,
    controllers: Controllers,
    kube_server: FakeKube,
    kubeconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The served certificate read, the list of keys trickling: one line, exit 2, and sealer.yaml
    and the certificate files as they were (nothing is pinned before every read is done)."""
    _serve(kube_server, controllers["staging-next"])
    before = snapshot(pinned)
    with trickling(kube_server, monkeypatch, "/secrets", "GET", kube_server.handle):
        result = invoke(pinned, "cert", "fetch", "staging", "--kubeconfig", str(kubeconfig), "--accept")
    assert result.exit_code == 2
    assert "did not answer within 0.5 seconds" in result.stderr and len(result.stderr.splitlines()) == 1
    assert snapshot(pinned) == before


@pytest.mark.slow
def test_fetch_differing_cert_is_shown_then_accepted(
    pinned: Path, controllers: Controllers, kube_server: FakeKube, kubeconfig: Path
) -> None:
    old, new = controllers["staging"], controllers["staging-next"]
    _serve(kube_server, new, name="sealed-secrets")  # the Helm chart's service name
    before = snapshot(pinned)

    text = invoke(pinned, "cert", "fetch", "staging", "--kubeconfig", str(kubeconfig))
    assert text.exit_code == 1
    assert _fp(old) in text.stdout and _fp(new) in text.stdout and "--accept" in text.stdout
    code, data = _fetch(pinned, kubeconfig)
    assert (code, data["fetched"], data["pinned"], data["accepted"]) == (1, _fp(new), _fp(old), False)
    assert snapshot(pinned) == before

    code, data = _fetch(pinned, kubeconfig, "--accept")
    assert (code, data["accepted"], data["added"], data["retired"]) == (0, True, [_fp(new)], [_fp(old)])
    assert _staging(pinned)["clusters"][0]["sealWith"] == _fp(new)
    assert [c["fingerprint"] for c in _staging(pinned)["clusters"][0]["certs"]] == [_fp(old), _fp(new)]
    assert (pinned / f"certs/staging-{_fp(new)[:12]}.pem").read_bytes() == new.cert.read_bytes()


@pytest.mark.slow
def test_fetch_into_a_cluster_a_typo_away_is_refused_unless_confirmed(
    pinned: Path, controllers: Controllers, kube_server: FakeKube, kubeconfig: Path
) -> None:
    _serve(kube_server, controllers["eu"])
    before = snapshot(pinned)
    args = ("cert", "fetch", "staging", "--kubeconfig", str(kubeconfig), "--cluster", "stagin")
    typo = invoke(pinned, *args)
    assert (typo.exit_code, typo.stderr) == (
        2,
        "sealer: staging has no cluster 'stagin': did you mean 'staging'? "
        "(--new-cluster adds it as a new cluster)\n",
    )
    assert snapshot(pinned) == before
    assert kube_server.requests_to("/services/sealed-secrets-controller:http/proxy/v1/cert.pem") == 0
    assert invoke(pinned, *args, "--new-cluster").exit_code == 0
    assert [c["name"] for c in _staging(pinned)["clusters"]] == ["staging", "stagin"]


@pytest.mark.slow
def test_fetch_checks_the_cluster_name_once(
    pinned: Path,
    controllers: Controllers,
    kube_server: FakeKube,
    kubeconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI, compare_fetched and each pin (the served certificate's, an active key's) asked
    check_cluster_name again in one run."""
    from sealer import cert_pins, kube

    calls: list[str] = []
    checked = cert_pins.check_cluster_name

    def counted(env: config.Environment, name: str, new_cluster: bool = False) -> None:
        calls.append(name)
        checked(env, name, new_cluster)

    monkeypatch.setattr(cert_pins, "check_cluster_name", counted)
    _serve(kube_server, controllers["eu"])
    spare = {"tls.crt": controllers["staging-next"].cert.read_bytes()}
    kube_server.add_secret("kube-system", "sealed-secrets-keyaaaa", spare, {kube.KEY_LABEL: "active"})
    args = ("cert", "fetch", "staging", "--kubeconfig", str(kubeconfig), "--cluster", "eu", "--accept")
    result = invoke(pinned, *args)
    assert result.exit_code == 0, result.stderr
    assert len(_staging(pinned)["clusters"][1]["certs"]) == 2  # the served certificate and the active key
    assert calls == ["eu"]


@pytest.mark.slow
def test_fetch_pins_when_nothing_is_pinned(
    repo: Path, controllers: Controllers, kube_server: FakeKube, kubeconfig: Path
) -> None:
    _serve(kube_server, controllers["staging"], name="sealer-ctl", namespace="sealed-secrets")

    code, data = _fetch(
        repo, kubeconfig, "--controller-namespace", "sealed-secrets", "--controller-name", "sealer-ctl"
    )

    assert (code, data["accepted"], data["pinned"]) == (0, True, None)
    assert _staging(repo)["clusters"][0]["fingerprint"] == _fp(controllers["staging"])


@pytest.mark.slow
def test_fetch_refuses_a_controller_another_environment_pins(
    pinned: Path, controllers: Controllers, kube_server: FakeKube, kubeconfig: Path
) -> None:
    """As `cert add` does: `check` would fail both environments (cert-distinct)."""
    _serve(kube_server, controllers["staging"])
    before = snapshot(pinned)
    result = invoke(pinned, "cert", "fetch", "dev", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "is already pinned for staging/staging" in result.stderr
    assert snapshot(pinned) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    "context, name, message",
    [
        ("stranger", "sealed-secrets-controller", "rejected the credentials"),
        (
            "admin",
            "elsewhere",
            "no Sealed Secrets controller service in namespace kube-system (tried elsewhere)",
        ),
        ("nobody", "sealed-secrets-controller", "has no context 'nobody' (it has: "),
    ],
)
def test_fetch_failures_are_one_line(
    pinned: Path,
    controllers: Controllers,
    kube_server: FakeKube,
    kubeconfig: Path,
    capsys: pytest.CaptureFixture[str],
    context: str,
    name: str,
    message: str,
) -> None:
    _serve(kube_server, controllers["staging-next"])
    before = snapshot(pinned)

    code, _, err = run_main(
        pinned,
        capsys,
        "cert",
        "fetch",
        "staging",
        "--kubeconfig",
        str(kubeconfig),
        "--context",
        context,
        "--controller-name",
        name,
    )

    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert snapshot(pinned) == before
