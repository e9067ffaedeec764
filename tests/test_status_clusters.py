"""Several clusters per environment (#17): `clusterContexts` maps each cluster of `staging` to a
kubeconfig context; `sealer status` reads every cluster (two fake Kubernetes API servers, a
third context pointing where nothing listens) and `rotate --finish` activates a key only once
every cluster serves it."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.backend_repos import ENV, NAMES, current_keys, leaks, ok, one_line_error, rotate
from support.cli import sealer
from support.fake_kube import FakeKube, counting_exec_user, exec_runs
from support.git import commit_all
from support.repos import EnvSpec, copy_repo, make_repo

from sealer import apikey, cert_pins, clusters, config, yamlio
from sealer.errors import ConfigError

SECRET = "engine-api-key"
EAST = "east"  # the second cluster; the first is named like the environment
CONTEXTS = {ENV: "one", EAST: "two"}
SHARED = "one cluster cannot answer for another"


@pytest.fixture(scope="session")
def second_kube() -> Iterator[FakeKube]:
    with FakeKube() as server:
        yield server


@pytest.fixture
def kubes(kube_server: FakeKube, second_kube: FakeKube) -> dict[str, FakeKube]:
    """cluster -> its API server, each starting empty."""
    kube_server.reset()
    second_kube.reset()
    return {ENV: kube_server, EAST: second_kube}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def contexts_file(kubes: dict[str, FakeKube], tmp_path: Path) -> Path:
    """A kubeconfig with context `one` on the first server, `two` on the second, `alias` on the
    first again and `gone` on a port where nothing listens."""
    servers = {
        "one": (kubes[ENV].url, kubes[ENV].admin_token),
        "two": (kubes[EAST].url, kubes[EAST].admin_token),
        "alias": (kubes[ENV].url, kubes[ENV].admin_token),
        "gone": (f"http://127.0.0.1:{closed_port()}", "no-server"),
    }
    return write_kubeconfig(tmp_path / "kubeconfig", servers)


def write_kubeconfig(path: Path, servers: dict[str, tuple[str, str]]) -> Path:
    """A kubeconfig with one context per name -> (server URL, token), the first one current."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": url}} for n, (url, _) in servers.items()],
        "users": [{"name": n, "user": {"token": token}} for n, (_, token) in servers.items()],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in servers],
        "current-context": next(iter(servers)),
    }
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


@pytest.fixture(scope="session")
def clusters_template(tmp_path_factory: pytest.TempPathFactory, controller: Path) -> Path:
    """staging pinned in two clusters (one controller key for both: the keys open either
    values file), each mapped to a context."""
    root = make_repo(tmp_path_factory.mktemp("clusters") / "repo", [EnvSpec(ENV, controller, keys=NAMES)])
    cert = controller / "tls.crt"
    cert_pins.pin(root, ENV, cert.read_bytes(), str(cert), EAST)
    set_contexts(root, CONTEXTS)
    commit_all(root, "two clusters")
    return root


@pytest.fixture
def repo(clusters_template: Path, tmp_path: Path) -> Path:
    return copy_repo(clusters_template, tmp_path / "repo")


def set_contexts(root: Path, contexts: Any) -> None:
    with config.edit(root) as doc:
        doc["environments"][ENV]["clusterContexts"] = contexts


def serve(kube: FakeKube, cluster: str, entries: dict[str, str], repo: Path | None = None) -> None:
    """The Secret one cluster holds; with `repo`, that cluster's key registry as Git gives it."""
    kube.add_secret(ENV, SECRET, {name: key.encode() for name, key in entries.items()})
    if repo is not None:
        rel = f"registry/{ENV}/{cluster}.yaml"
        kube.add_object(yamlio.load_documents((repo / rel).read_text(), rel)[0])


def status(repo: Path, kubeconfig: Path, *extra: str) -> Any:
    return sealer(repo, "status", ENV, "--kubeconfig", str(kubeconfig), *extra)


def report(repo: Path, kubeconfig: Path) -> dict[str, Any]:
    result = status(repo, kubeconfig, "-o", "json")
    assert result.stderr == "", result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


key_id = apikey.key_id_of  # what status shows of a key


@pytest.fixture
def rotated_twice(repo: Path, keys: list[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(the keys of the first rotation, the keys delivered now)."""
    rotate(repo)
    first = current_keys(repo, keys)
    rotate(repo)
    return first, current_keys(repo, keys)


def test_two_clusters_that_agree(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], contexts_file: Path
) -> None:
    first, now = rotated_twice
    for cluster, kube in kubes.items():
        serve(kube, cluster, now, repo)
    result = ok(status(repo, contexts_file))
    assert f"cluster {ENV} (context one): in sync" in result.stdout.splitlines()
    assert f"cluster {EAST} (context two): in sync" in result.stdout.splitlines()
    data = report(repo, contexts_file)
    assert data["in_sync"] is True
    assert [(c["cluster"], c["context"], c["reachable"], c["in_sync"]) for c in data["clusters"]] == [
        (ENV, "one", True, True),
        (EAST, "two", True, True),
    ]
    assert {(e["entry"], e["state"], e["phase"]) for e in data["entries"]} == {
        (name, "in sync", "deployed") for name in NAMES
    }
    assert sorted(r["cluster"] for r in data["registries"]) == sorted([ENV, EAST])
    assert all(r["state"] == "in sync" for r in data["registries"])
    for cluster, kube in kubes.items():  # each cluster read through its own context only
        assert kube.requests_to(f"/api/v1/namespaces/{ENV}/secrets/{SECRET}", "GET") == 2, cluster
    assert not leaks(result.stdout + json.dumps(data), [*first.values(), *now.values()])


def test_a_cluster_still_serving_the_old_key_disagrees(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], contexts_file: Path
) -> None:
    first, now = rotated_twice
    serve(kubes[ENV], ENV, now, repo)
    serve(kubes[EAST], EAST, first)
    result = status(repo, contexts_file)
    assert result.exit_code == 1 and result.stderr == ""
    data = report(repo, contexts_file)
    assert data["in_sync"] is False
    by_entry = {e["entry"]: e for e in data["entries"]}
    for name in NAMES:
        assert by_entry[name]["served_by"] == {ENV: key_id(now[name]), EAST: key_id(first[name])}
        assert by_entry[name]["state"] == (
            f"clusters disagree ({ENV}: {key_id(now[name])}, {EAST}: {key_id(first[name])})"
        )
        assert by_entry[name]["live_key_id"] is None and by_entry[name]["ledger_key_id"] == key_id(now[name])
        assert by_entry[name]["phase"] == "committed: deployed when merged and synced"
    east = next(c for c in data["clusters"] if c["cluster"] == EAST)
    assert east["reachable"] is True and east["in_sync"] is False
    assert {e["state"] for e in east["entries"]} == {"cluster serves revoked key (sync pending)"}
    assert f"cluster {ENV} (context one): in sync" in result.stdout.splitlines()
    assert f"cluster {EAST} (context two): apiKey: cluster serves revoked key (sync pending)" in result.stdout


def east_line(
    repo: Path, now: dict[str, str], kubes: dict[str, FakeKube], kubeconfig: Path, contexts: dict[str, str]
) -> str:
    """`status`'s line of cluster east, every cluster serving `now` and sealer.yaml mapping
    `contexts`: a run not in sync (exit 1) with nothing on stderr."""
    for cluster, kube in kubes.items():
        serve(kube, cluster, now, repo)
    set_contexts(repo, contexts)
    result = status(repo, kubeconfig)
    assert result.exit_code == 1 and result.stderr == "", (result.stderr, result.exception)
    return next(x for x in result.stdout.splitlines() if x.startswith(f"cluster {EAST}"))


def test_an_unreachable_cluster_is_reported_and_never_in_sync(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], contexts_file: Path
) -> None:
    line = east_line(repo, rotated_twice[1], kubes, contexts_file, {ENV: "one", EAST: "gone"})
    assert line.startswith(
        f"cluster {EAST} (context gone): unreachable: kubernetes: cannot reach http://127.0.0.1:"
    )
    data = report(repo, contexts_file)
    east = next(c for c in data["clusters"] if c["cluster"] == EAST)
    assert (east["reachable"], east["in_sync"], east["entries"]) == (False, False, [])
    assert "cannot reach" in east["error"]
    assert {e["served_by"][EAST] for e in data["entries"]} == {"unreachable"}
    assert all(e["state"].startswith("clusters disagree") for e in data["entries"])
    assert kubes[EAST].requests_to(f"/api/v1/namespaces/{ENV}/secrets/{SECRET}", "GET") == 0


def test_each_context_runs_its_exec_plugin_only_for_its_read(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], tmp_path: Path
) -> None:
    """Telling whether two contexts reach one API server reads the kubeconfig alone: each
    context's exec credential plugin runs as often over every cluster as when its cluster is read
    by itself (`--context`), never once more to learn the server."""
    for cluster, kube in kubes.items():
        serve(kube, cluster, rotated_twice[1], repo)
    users = [counting_exec_user(tmp_path, ctx, kubes[c].admin_token) for c, ctx in CONTEXTS.items()]
    servers = {ctx: (kubes[c].url, "") for c, ctx in CONTEXTS.items()}
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", servers)
    doc = json.loads(kubeconfig.read_text())
    kubeconfig.write_text(json.dumps({**doc, "users": users}))
    alone = {}
    for context in CONTEXTS.values():
        ok(status(repo, kubeconfig, "--context", context))
        alone[context] = exec_runs(tmp_path, context)
    assert all(alone.values())
    ok(status(repo, kubeconfig))
    assert {c: exec_runs(tmp_path, c) - alone[c] for c in alone} == alone


def named_after_clusters(kubes: dict[str, FakeKube], path: Path, **servers: tuple[str, str]) -> Path:
    """A kubeconfig with a context named after each cluster (the first current), unless `servers`
    gives that cluster another (URL, token)."""
    found = {cluster: (kube.url, kube.admin_token) for cluster, kube in kubes.items()}
    return write_kubeconfig(path, {**found, **servers})


def test_one_cluster_of_several_unreachable_is_not_in_sync_not_bad_input(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], tmp_path: Path
) -> None:
    """No clusterContexts: each cluster read through the context named after it, its Secret and
    its key registry. One that cannot be reached is a finding (exit 1, as the README promises),
    not bad input (exit 2) that hides what the other cluster says."""
    _, now = rotated_twice
    for cluster, kube in kubes.items():
        serve(kube, cluster, now, repo)
    set_contexts(repo, {})
    kubeconfig = named_after_clusters(
        kubes, tmp_path / "kubeconfig", east=(f"http://127.0.0.1:{closed_port()}", "x")
    )
    result = status(repo, kubeconfig)
    assert result.exit_code == 1 and result.stderr == "", (result.stderr, result.exception)
    line = next(x for x in result.stdout.splitlines() if x.startswith(f"cluster {EAST}"))
    assert line.startswith(f"cluster {EAST} (context {EAST}): unreachable: kubernetes: cannot reach")
    assert line.endswith(f"({clusters.UNMAPPED})")
    data = report(repo, kubeconfig)
    views = {c["cluster"]: (c["context"], c["reachable"], c["in_sync"]) for c in data["clusters"]}
    assert views == {ENV: (ENV, True, True), EAST: (EAST, False, False)}
    assert [(r["cluster"], r["state"]) for r in data["registries"]] == [(ENV, "in sync")]
    assert data["in_sync"] is False and all(
        e["state"].startswith("clusters disagree") for e in data["entries"]
    )


def test_several_clusters_unmapped_are_never_read_through_one_context(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], tmp_path: Path
) -> None:
    """No clusterContexts and no `--context`: the current context's cluster does not answer for
    the other. east still serves the old keys (its key registry is in sync): not in sync, exit 1,
    each cluster read once through the context named after it."""
    first, now = rotated_twice
    serve(kubes[ENV], ENV, now, repo)
    serve(kubes[EAST], EAST, first, repo)
    without_contexts(repo)
    kubeconfig = named_after_clusters(kubes, tmp_path / "kubeconfig")
    result = status(repo, kubeconfig)
    assert result.exit_code == 1 and result.stderr == "", (result.stderr, result.exception)
    assert f"cluster {ENV} (context {ENV}): in sync" in result.stdout.splitlines()
    assert (
        f"cluster {EAST} (context {EAST}): apiKey: cluster serves revoked key (sync pending)" in result.stdout
    )
    for cluster, kube in kubes.items():
        assert kube.requests_to(f"/api/v1/namespaces/{ENV}/secrets/{SECRET}", "GET") == 1, cluster
    data = report(repo, kubeconfig)
    assert data["in_sync"] is False
    assert {e["entry"]: e["served_by"] for e in data["entries"]} == {
        name: {ENV: key_id(now[name]), EAST: key_id(first[name])} for name in NAMES
    }


def test_a_direct_registry_of_an_unreachable_cluster_leaves_the_others_readable(
    repo: Path,
    keys: list[Any],
    kubes: dict[str, FakeKube],
    contexts_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Direct delivery: each cluster's report reads its own registry only; the unreachable one
    made every cluster unreachable (its registry was read for each)."""
    monkeypatch.setenv("KUBECONFIG", str(contexts_file))
    with config.edit(repo) as doc:
        doc["environments"][ENV]["backend"] = {"kind": "k8s-secrets", "options": {"delivery": "direct"}}
    commit_all(repo, "direct delivery")
    rotate(repo)
    now = current_keys(repo, keys)
    for cluster, kube in kubes.items():
        serve(kube, cluster, now)
    set_contexts(repo, {ENV: "one", EAST: "gone"})
    result = status(repo, contexts_file)
    assert result.exit_code == 1 and result.stderr == "", (result.stderr, result.exception)
    data = report(repo, contexts_file)
    views = {c["cluster"]: c for c in data["clusters"]}
    assert (views[ENV]["reachable"], views[ENV]["error"]) == (True, "")
    assert [r["cluster"] for r in views[ENV]["registries"]] == ["one"]
    assert {e["state"] for e in views[ENV]["entries"]} == {"in sync"}
    assert views[EAST]["reachable"] is False and "cannot reach" in views[EAST]["error"]
    assert data["in_sync"] is False


def test_no_kubeconfig_at_all_is_bad_input(
    repo: Path, rotated_twice: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cluster unreadable for want of any kubeconfig is exit 2 (nothing compared), as
    with one cluster: not a report of clusters each 'unreachable'."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    line = one_line_error(sealer(repo, "status", ENV), 2)
    assert line == (
        "sealer: no kubeconfig found: $KUBECONFIG is not set and ~/.kube/config does not exist; "
        "pass --kubeconfig FILE or set KUBECONFIG"
    )
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    assert one_line_error(sealer(repo, "status", ENV, "-o", "json"), 2) == (
        "sealer: no kubeconfig found: no file $KUBECONFIG names exists; "
        "pass --kubeconfig FILE or set KUBECONFIG"
    )
    assert "does not exist" in one_line_error(status(repo, tmp_path / "none"), 2)


@pytest.mark.parametrize(
    ("contexts", "why"),
    [
        ({ENV: "one"}, "no context in clusterContexts"),  # a cluster left out is not skipped
        # no such context in the kubeconfig: it says which it has
        ({ENV: "one", EAST: "nowhere"}, "has no context 'nowhere' (it has: one, two, alias, gone)"),
    ],
)
def test_a_cluster_sealer_cannot_read_fails_closed(
    repo: Path,
    rotated_twice: Any,
    kubes: dict[str, FakeKube],
    contexts_file: Path,
    contexts: dict[str, str],
    why: str,
) -> None:
    _, now = rotated_twice
    for cluster, kube in kubes.items():
        serve(kube, cluster, now, repo)
    set_contexts(repo, contexts)
    data = report(repo, contexts_file)
    east = next(c for c in data["clusters"] if c["cluster"] == EAST)
    assert data["in_sync"] is False and east["reachable"] is False and why in east["error"]


def test_an_explicit_context_reads_that_cluster_alone(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], contexts_file: Path
) -> None:
    _, now = rotated_twice
    serve(kubes[EAST], EAST, now, repo)
    result = ok(status(repo, contexts_file, "--context", "two", "-o", "json"))
    data = json.loads(result.stdout)
    assert "clusters" not in data
    assert [(r["cluster"], r["state"]) for r in data["registries"]] == [(EAST, "in sync")]  # its own alone
    assert kubes[ENV].requests_to(f"/api/v1/namespaces/{ENV}/secrets/{SECRET}", "GET") == 0


@pytest.mark.parametrize("delivery", ["gitops", "direct"])
def test_a_context_of_no_cluster_is_bad_input(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], tmp_path: Path, delivery: str
) -> None:
    """`--context` names the cluster to look at: one that is none of clusterContexts' (here a
    context of the first cluster's API server) would pass for a cluster and have every
    cluster's key registry compared through it. Exit 2, naming the contexts there are."""
    _, now = rotated_twice
    for cluster, kube in kubes.items():
        serve(kube, cluster, now, repo)
    if delivery == "direct":
        with config.edit(repo) as doc:
            doc["environments"][ENV]["backend"] = {"kind": "k8s-secrets", "options": {"delivery": "direct"}}
        commit_all(repo, "direct delivery")
    servers = {CONTEXTS[cluster]: (kube.url, kube.admin_token) for cluster, kube in kubes.items()}
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {**servers, "other": servers["one"]})
    line = one_line_error(status(repo, kubeconfig, "--context", "other"), 2)
    assert line == (
        f"sealer: {ENV}: --context other is none of its clusterContexts (one, two): "
        "name one, or none to read every cluster"
    )
    assert all(kube.requests_to("/api/v1/", "GET") == 0 for kube in kubes.values())


def test_two_contexts_of_one_api_server_answer_for_neither_cluster(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], contexts_file: Path
) -> None:
    """clusterContexts naming one API server twice (a kubeconfig's two names for one cluster):
    that cluster would answer for the other. Neither is read, and neither is in sync (exit 1)."""
    line = east_line(repo, rotated_twice[1], kubes, contexts_file, {ENV: "one", EAST: "alias"})
    server = kubes[ENV].url.rstrip("/")
    assert (
        line
        == f"cluster {EAST} (context alias): unreachable: context alias and {ENV}'s context one reach "
        + (f"one API server ({server}): {SHARED}")
    )
    data = report(repo, contexts_file)
    views = {c["cluster"]: (c["reachable"], c["error"]) for c in data["clusters"]}
    assert views == {
        ENV: (False, f"context one and {EAST}'s context alias reach one API server ({server}): {SHARED}"),
        EAST: (False, f"context alias and {ENV}'s context one reach one API server ({server}): {SHARED}"),
    }
    assert data["in_sync"] is False
    assert all(kube.requests_to("/api/", "GET") == 0 for kube in kubes.values())


def test_one_api_server_spelt_another_way_still_answers_for_neither_cluster(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], tmp_path: Path
) -> None:
    """No clusterContexts, and east's context spells the first cluster's server in capitals with
    a trailing slash (a kubeconfig written by hand): still one server, read for neither."""
    first = kubes[ENV].url
    kubeconfig = named_after_clusters(
        kubes, tmp_path / "kubeconfig", east=(first.upper() + "/", kubes[ENV].admin_token)
    )
    line = east_line(repo, rotated_twice[1], kubes, kubeconfig, {})
    assert line == (
        f"cluster {EAST} (context {EAST}): unreachable: context {EAST} and {ENV}'s context {ENV} reach "
        f"one API server ({first.rstrip('/')}): {SHARED}"
    )
    assert all(kube.requests_to("/api/", "GET") == 0 for kube in kubes.values())


def test_a_missing_ledger_is_bad_input_not_a_cluster_out_of_sync(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], contexts_file: Path
) -> None:
    """Read per cluster, a deleted ledger was each cluster's own error (exit 1, "not in sync"):
    it is the repository's, one line and exit 2 as with one cluster."""
    _, now = rotated_twice
    for cluster, kube in kubes.items():
        serve(kube, cluster, now, repo)
    (repo / "ledger" / f"{ENV}.yaml").unlink()
    line = one_line_error(status(repo, contexts_file), 2)
    assert line.startswith(f"sealer: ledger/{ENV}.yaml is missing, but HEAD holds it")


def without_contexts(repo: Path) -> None:
    with config.edit(repo) as doc:
        del doc["environments"][ENV]["clusterContexts"]
    commit_all(repo, "no clusterContexts")


def test_a_context_that_names_no_cluster_of_several_unmapped_is_bad_input(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], contexts_file: Path
) -> None:
    """Several clusters and no clusterContexts: a `--context` that is no cluster's name would
    pass for every cluster, each cluster's key registry compared with the one read through it.
    Exit 2, one line saying how to name the cluster; nothing read."""
    _, now = rotated_twice
    for cluster, kube in kubes.items():
        serve(kube, cluster, now, repo)
    without_contexts(repo)
    line = one_line_error(status(repo, contexts_file, "--context", "two"), 2)
    assert line == (
        f"sealer: {ENV}: --context two is none of its clusters ({ENV}, {EAST}) and sealer.yaml maps "
        "no context to them: set clusterContexts, or name a context called after the cluster"
    )
    assert all(kube.requests_to("/api/v1/", "GET") == 0 for kube in kubes.values())


def test_a_context_named_after_a_cluster_of_several_unmapped_reads_that_cluster_alone(
    repo: Path, rotated_twice: Any, kubes: dict[str, FakeKube], tmp_path: Path
) -> None:
    """Without clusterContexts, a context named after a cluster is that cluster (as status
    reads each cluster's key registry with no `--context`): its own registry alone."""
    _, now = rotated_twice
    serve(kubes[EAST], EAST, now, repo)
    without_contexts(repo)
    servers = {cluster: (kube.url, kube.admin_token) for cluster, kube in kubes.items()}
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", servers)
    data = json.loads(ok(status(repo, kubeconfig, "--context", EAST, "-o", "json")).stdout)
    assert [(r["cluster"], r["state"]) for r in data["registries"]] == [(EAST, "in sync")]
    assert data["in_sync"] is True
    assert kubes[ENV].requests_to("/api/", "GET") == 0


# -- rotate --finish: deployed means served by every cluster --------------------------------------


def finish(repo: Path) -> Any:
    return sealer(repo, "rotate", "--finish", "--output", "json")


def test_finish_waits_until_every_cluster_serves_the_new_key(
    repo: Path,
    keys: list[Any],
    vault_store: Any,
    kubes: dict[str, FakeKube],
    contexts_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(contexts_file))
    ok(sealer(repo, "backend", "set", ENV, "vault", "--option", f"path={vault_store.prefix}", "--no-branch"))
    rotate(repo)
    first = current_keys(repo, keys)
    serve(kubes[ENV], ENV, first)
    serve(kubes[EAST], EAST, first)
    ok(finish(repo))
    rotate(repo)
    now = current_keys(repo, keys)

    def accepted() -> set[str]:
        listed = json.loads(ok(sealer(repo, "keys", "list", ENV, "-o", "json")).stdout)
        return {row["key_id"] for row in listed if row["status"] == "accepted"}

    waiting = {key_id(k) for k in now.values()}
    assert accepted() == waiting
    serve(kubes[ENV], ENV, now)  # the first cluster has synced, the second still serves the old keys
    line = one_line_error(finish(repo), 4)
    assert (
        f"not deployed to every cluster: cluster {EAST} does not serve the new apiKey, adminKey yet" in line
    )
    assert accepted() == waiting  # nothing activated, the old keys still valid

    set_contexts(repo, {ENV: "one", EAST: "gone"})  # unreachable: refused as well
    serve(kubes[EAST], EAST, now)
    line = one_line_error(finish(repo), 4)
    assert f"cluster {EAST} cannot be read (kubernetes: cannot reach" in line
    assert accepted() == waiting

    set_contexts(repo, {ENV: "one", EAST: "alias"})  # east's name for the first cluster: refused
    line = one_line_error(finish(repo), 4)
    assert (
        f"cluster {EAST} cannot be read (context alias and {ENV}'s context one reach one API server" in line
    )
    assert accepted() == waiting

    set_contexts(repo, CONTEXTS)
    done = json.loads(ok(finish(repo)).stdout)
    assert {a["key_id"] for a in done["activated"]} == waiting and accepted() == set()
    assert not leaks(line, [*first.values(), *now.values()])


def test_finish_with_nothing_to_activate_reads_no_cluster(
    repo: Path,
    vault_store: Any,
    kubes: dict[str, FakeKube],
    contexts_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unreachable cluster does not fail every main-branch pipeline, only a deployment."""
    monkeypatch.setenv("KUBECONFIG", str(contexts_file))
    ok(sealer(repo, "backend", "set", ENV, "vault", "--option", f"path={vault_store.prefix}", "--no-branch"))
    set_contexts(repo, {ENV: "gone", EAST: "not-in-the-kubeconfig"})  # each cluster its own context
    assert json.loads(ok(finish(repo)).stdout)["activated"] == []


def test_finish_without_cluster_contexts_reads_no_cluster(
    repo: Path, keys: list[Any], vault_store: Any, kubes: dict[str, FakeKube], tmp_path: Path
) -> None:
    """Several clusters and no clusterContexts: `--finish` reads no cluster, as for one, though
    `status` reads each through the context named after it (the README says both)."""
    ok(sealer(repo, "backend", "set", ENV, "vault", "--option", f"path={vault_store.prefix}", "--no-branch"))
    without_contexts(repo)
    rotate(repo)
    waiting = {key_id(k) for k in current_keys(repo, keys).values()}
    done = json.loads(ok(finish(repo)).stdout)
    assert {a["key_id"] for a in done["activated"]} == waiting
    assert all(kube.requests_to("/api/", "GET") == 0 for kube in kubes.values())


# -- sealer.yaml ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contexts", "where", "says"),
    [
        (["one", "two"], "clusterContexts", "must be a mapping of cluster names to kubeconfig contexts"),
        ({ENV: {"context": "one", "token": "t0k3n"}}, f"clusterContexts.{ENV}", "kubeconfig context name"),
        ({ENV: 7}, f"clusterContexts.{ENV}", "credentials stay in the kubeconfig"),
        ({ENV: "has space"}, f"clusterContexts.{ENV}", "kubeconfig context name"),
        ({"West_1": "one"}, "clusterContexts", "cluster names (DNS labels)"),
        ({"west": "one"}, "clusterContexts.west", f"is not a cluster of {ENV} (clusters: {ENV}, {EAST})"),
        ({ENV: "one", EAST: "one"}, f"clusterContexts.{EAST}", f"is {ENV}'s context too"),
        ({ENV: "hvs.CAESIt0k3n-0123456789abcdef"}, f"clusterContexts.{ENV}", "looks like a Vault token"),
    ],
)
def test_bad_cluster_contexts_are_refused(repo: Path, contexts: Any, where: str, says: str) -> None:
    text = (repo / "sealer.yaml").read_text()
    doc = yamlio.load_documents(text, "sealer.yaml")[0]
    doc["environments"][ENV]["clusterContexts"] = contexts
    with pytest.raises(ConfigError) as raised:
        config.parse(doc, repo)
    message = str(raised.value)
    assert f"environments.{ENV}.{where}" in message and says in message
    assert "t0k3n" not in message  # never echoed
    with pytest.raises(ConfigError):  # and an edit never writes it
        set_contexts(repo, contexts)
    assert (repo / "sealer.yaml").read_text() == text


def test_cluster_contexts_are_read(repo: Path) -> None:
    assert config.load(repo).env(ENV).cluster_contexts == CONTEXTS


def test_a_direct_registry_goes_to_every_cluster_and_each_is_compared(
    repo: Path,
    keys: list[Any],
    kubes: dict[str, FakeKube],
    contexts_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Direct delivery with no `contexts` option of its own writes through every context of
    `clusterContexts`; status compares each cluster's registry with that cluster alone. Until
    `rotate --finish` each holds the accept phase (the old key still valid): sync pending."""
    monkeypatch.setenv("KUBECONFIG", str(contexts_file))
    with config.edit(repo) as doc:
        settings = {"delivery": "direct", "kubeconfig": str(contexts_file)}
        doc["environments"][ENV]["backend"] = {"kind": "k8s-secrets", "options": settings}
    commit_all(repo, "direct delivery")
    assert config.load(repo).env(ENV).backend_options["contexts"] == "one,two"
    rotate(repo)
    now = current_keys(repo, keys)
    for cluster, kube in kubes.items():
        serve(kube, cluster, now)
        assert (ENV, f"{SECRET}-registry") in kube.secrets, cluster
    data = report(repo, contexts_file)
    assert [(c["cluster"], [r["cluster"] for r in c["registries"]]) for c in data["clusters"]] == [
        (ENV, ["one"]),
        (EAST, ["two"]),
    ]
    assert [r["state"] for r in data["registries"]] == ["sync pending"] * 2
    assert data["in_sync"] is False
    ok(finish(repo))
    data = report(repo, contexts_file)
    assert [r["state"] for r in data["registries"]] == ["in sync"] * 2
    assert data["in_sync"] is True
