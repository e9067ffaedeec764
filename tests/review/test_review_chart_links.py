"""A chart's symlink leads Helm to files outside the chart, which it renders as the chart's own:
a file such a link (or a link met on the way) leads to counts as the chart's, and a chart
holding a link is one whose templates review cannot read, so changing either fails unless a
code owner approves. A file no chart's link reaches passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.git import commit_all, git
from support.isolation import isolated
from support.pull_requests import reviewed_after, write
from support.repos import keypairs, pr_checkout, rotated_template

CHART = "deploy/linked"
SHARED = "shared/tpl"
DEPLOYMENT = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n"
    "  replicas: {{ .Values.replicaCount }}\n"
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: staging rotated, and a chart whose `templates` is a link to a shared folder, which
    holds a link to another one."""
    root = rotated_template(tmp_path_factory, keypairs(tmp_path_factory, "staging", "production"))
    with isolated(tmp_path_factory.mktemp("home")):
        write(root, f"{CHART}/Chart.yaml", "apiVersion: v2\nname: linked\nversion: 0.1.0\n")
        write(root, f"{CHART}/values.yaml", "replicaCount: 1\n")
        write(root, f"{SHARED}/deployment.yaml", DEPLOYMENT)
        write(root, "other/tpl/service.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\n")
        (root / CHART / "templates").symlink_to("../../shared/tpl")
        (root / SHARED / "more").symlink_to("../../other/tpl")
        write(root, "docs/notes.yaml", "title: notes\n")
        commit_all(root, "a chart rendering linked templates")
    return root


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return pr_checkout(template, tmp_path)


def unrendered(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        f for f in findings if f["rule"] == "trust-anchor-change" and "does not render charts" in f["message"]
    ]


def secret_of_a_templated_name_in_the_linked_folder(repo: Path) -> None:
    write(
        repo, f"{SHARED}/secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Values.name }}\n"
    )


def registry_in_a_folder_linked_from_the_linked_folder(repo: Path) -> None:
    body = (repo / "registry/staging/staging.yaml").read_text()
    write(repo, "other/tpl/registry.yaml", "{{- if .Values.enabled }}\n" + body + "{{- end }}\n")


def plain_edit_of_a_linked_template(repo: Path) -> None:
    """Fail closed: review does not resolve a chart's links as Helm does."""
    write(repo, f"{SHARED}/deployment.yaml", DEPLOYMENT + "  revisionHistoryLimit: 3\n")


def values_of_a_chart_holding_a_link(repo: Path) -> None:
    write(repo, f"{CHART}/values.yaml", "replicaCount: 2\n")


def secret_in_a_folder_a_linked_folder_on_the_way_leads_to(repo: Path) -> None:
    """main's chart links `templates` to a path through a folder that is itself a link."""
    git(repo, "checkout", "-q", "main")
    write(repo, "deploy/through/Chart.yaml", "apiVersion: v2\nname: through\nversion: 0.1.0\n")
    write(repo, "real/b/tpl/deployment.yaml", DEPLOYMENT)
    (repo / "deploy/through/templates").symlink_to("../../a/b/tpl")
    (repo / "a").symlink_to("real")
    commit_all(repo, "templates through a linked folder")
    git(repo, "checkout", "-q", "-B", "pr")
    write(
        repo, "real/b/tpl/secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Values.n }}\n"
    )


ATTACKS = [
    secret_of_a_templated_name_in_the_linked_folder,
    registry_in_a_folder_linked_from_the_linked_folder,
    plain_edit_of_a_linked_template,
    values_of_a_chart_holding_a_link,
    secret_in_a_folder_a_linked_folder_on_the_way_leads_to,
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.__name__ for a in ATTACKS])
def test_a_file_a_chart_s_link_leads_to_fails(repo: Path, attack: Any) -> None:
    code, findings = reviewed_after(repo, attack)
    assert code == 1 and unrendered(findings), findings


def test_the_finding_names_the_file_and_the_chart(repo: Path) -> None:
    _, findings = reviewed_after(repo, secret_of_a_templated_name_in_the_linked_folder)
    [found] = unrendered(findings)
    assert found["path"] == f"{SHARED}/secret.yaml"
    assert f"the Helm chart {CHART}" in found["message"] and "symlink" in found["message"]


def templates_linked_out_of_a_chart(repo: Path) -> None:
    """A chart's `templates` made a link to a folder outside it."""
    write(repo, "deploy/app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n")
    write(repo, "elsewhere/secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Values.n }}\n")
    (repo / "deploy/app/templates").symlink_to("../../elsewhere")


def test_a_link_out_of_a_chart_fails(repo: Path) -> None:
    code, findings = reviewed_after(repo, templates_linked_out_of_a_chart)
    assert code == 1 and "deploy/app/templates" in {f["path"] for f in unrendered(findings)}, findings


def test_a_file_no_chart_s_link_reaches_passes(repo: Path) -> None:
    def notes_edited(repo: Path) -> None:
        write(repo, "docs/notes.yaml", "title: more notes\n")
        write(repo, "shared/readme.yaml", "about: templates\n")  # beside the linked folder, not in it

    code, findings = reviewed_after(repo, notes_edited)
    assert code == 0 and not findings, findings
