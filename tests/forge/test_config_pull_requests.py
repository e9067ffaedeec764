"""sealer.yaml `pullRequests`: labels, reviewers and assignees for `sealer rotate --open-pr`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sealer import config
from sealer.errors import ConfigError

BASE: dict[str, Any] = {"version": 1, "environments": {}}


def parse(pull_requests: Any) -> config.PullRequests:
    return config.parse({**BASE, "pullRequests": pull_requests}, Path(".")).pull_requests


def test_absent_means_nothing_attached() -> None:
    assert config.parse(BASE, Path(".")).pull_requests == config.PullRequests()
    assert parse(None) == config.PullRequests()


def test_names_are_read() -> None:
    found = parse(
        {"labels": ["keys", "needs review"], "reviewers": ["alice", "acme/platform"], "assignees": ["bob"]}
    )
    assert found == config.PullRequests(("keys", "needs review"), ("alice", "acme/platform"), ("bob",))


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (["keys"], "pullRequests: must be a mapping"),
        ({"label": ["x"]}, "sealer.yaml: pullRequests.label: unknown setting (did you mean 'labels'?)"),
        ({"labels": "keys"}, "pullRequests.labels: must be a list"),
        ({"labels": ["a,b"]}, "pullRequests.labels[0]"),
        ({"labels": [""]}, "pullRequests.labels[0]"),
        ({"labels": ["x\ny"]}, "pullRequests.labels[0]"),
        ({"labels": [f"l{i}" for i in range(21)]}, "at most 20"),
        ({"reviewers": ["@alice"]}, "pullRequests.reviewers[0]"),
        ({"reviewers": ["a/b/c"]}, "pullRequests.reviewers[0]"),
        ({"reviewers": [7]}, "pullRequests.reviewers[0]"),
        ({"assignees": ["acme/team"]}, "pullRequests.assignees[0]"),
    ],
)
def test_bad_settings_are_one_config_error(value: Any, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(value)
    assert str(caught.value).startswith("invalid config: ") and where in str(caught.value)
