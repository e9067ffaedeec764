"""sealer.forge.gitlab_includes: the files of this repository GitLab merges into a pipeline
through `.gitlab-ci.yml`'s includes, as a table of what each way of writing one reads as."""

from __future__ import annotations

import pytest

from sealer.errors import BadInput
from sealer.forge.gitlab_includes import CI_FILE, Includes, local_includes


def reading(files: dict[str, str | BaseException]) -> Includes:
    def read(path: str) -> str | None:
        found = files.get(path)
        if isinstance(found, BaseException):
            raise found
        return found

    return local_includes(read, lambda pattern: sorted(p for p in files if p.startswith("jobs/")))


@pytest.mark.parametrize(
    ("text", "files", "patterns"),
    [
        ("include: /ci/a.yml\n", ["ci/a.yml"], []),
        ("include: ci/a.yml\n", ["ci/a.yml"], []),
        ("include: [/a.yml, 'b.yml']\n", ["a.yml", "b.yml"], []),
        ("include:\n  local: /a.yml\n", ["a.yml"], []),
        ("include:\n  - local: ./a.yml\n    rules: [{if: $X}]\n", ["a.yml"], []),
        ("include: 'jobs/*.yml'\n", ["jobs/x.yml"], ["jobs/*.yml"]),
        ("include: {local: 'jobs/**/*.yml'}\n", ["jobs/x.yml"], ["jobs/**/*.yml"]),
        ("spec:\n  inputs: {}\n---\ninclude: /a.yml\n", ["a.yml"], []),  # a header document first
        (".i: &i\n  include: /a.yml\n<<: *i\n", ["a.yml"], []),  # merged into the top level
        ("include: {local: /a.yml}\ninclude: /b.yml\n", ["a.yml", "b.yml"], []),  # each of a key given twice
        ("job:\n  script: !reference [.x, script]\ninclude: /a.yml\n", ["a.yml"], []),  # GitLab's tag
        (
            "include:\n  - remote: https://x.test/a.yml\n  - https://x.test/b.yml\n  - project: g/p\n"
            "    file: /c.yml\n  - template: Auto-DevOps.gitlab-ci.yml\n  - component: x.test/g/p/c@1\n",
            [],
            [],
        ),
        ("job:\n  include: /a.yml\n", [], []),  # a job's key, not an include
        # this project at the merge request's commit (GitLab's way to test a component): local
        (
            "include:\n  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/lint@v@$CI_COMMIT_SHA\n",
            ["templates/lint.yml", "templates/lint/template.yml"],
            [],
        ),
        (
            "include:\n  - project: ${CI_PROJECT_PATH}\n    ref: $CI_COMMIT_REF_NAME\n"
            "    file: [/c.yml, d.yml]\n",
            ["c.yml", "d.yml"],
            [],
        ),
        ("include:\n  - project: $CI_PROJECT_PATH\n    file: /c.yml\n", [], []),  # its default branch
    ],
)
def test_local_includes_as_gitlab_reads_them(text: str, files: list[str], patterns: list[str]) -> None:
    found = reading({CI_FILE: text, "jobs/x.yml": "x: 1\n"})
    assert (list(found.files), list(found.patterns), found.unread) == (files, patterns, ())


def test_includes_are_followed_through_each_file_once() -> None:
    found = reading(
        {
            CI_FILE: "include: [/a.yml, 'jobs/*.yml']\n",
            "a.yml": "include: /b.yml\n",
            "b.yml": "include: [/a.yml, /c.yml]\n",  # a cycle back to a.yml
            "jobs/x.yml": "include: /d.yml\n",  # what a wildcard matches is followed too
        }
    )
    assert found.files == ("a.yml", "jobs/x.yml", "b.yml", "d.yml", "c.yml") and found.unread == ()


@pytest.mark.parametrize(
    ("files", "told"),
    [
        ({CI_FILE: "include: /ci/$ENV.yml\n"}, "names a variable"),
        ({CI_FILE: "include: {local: '$[[ inputs.dir ]]/a.yml'}\n"}, "names a variable"),
        ({CI_FILE: "include: 'ci/%ENV%.yml'\n"}, "names a variable"),  # GitLab expands it too
        ({CI_FILE: "include: {component: 'x.test/g/p/c@%REF%'}\n"}, "may be this project"),
        ({CI_FILE: "include: ../a.yml\n"}, "is not a path inside the repository"),
        ({CI_FILE: "include: {local: [a.yml]}\n"}, "is not a path"),
        ({CI_FILE: "include: 12\n"}, "is not a path"),
        ({CI_FILE: "include: [[a.yml]]\n"}, "is not a path or a mapping"),
        ({CI_FILE: "include: [a.yml\n"}, "not valid YAML"),
        ({CI_FILE: "include: {component: 'x.test/g/p/c@$CI_COMMIT_SHA'}\n"}, "may be this project"),
        ({CI_FILE: "include: {project: g/p, ref: $REF, file: /c.yml}\n"}, "may be this project"),
        ({CI_FILE: "include: /a.yml\n", "a.yml": BadInput("cannot read a.yml: it is a symlink")}, "symlink"),
    ],
)
def test_an_include_that_cannot_be_known_is_told(files: dict[str, str | BaseException], told: str) -> None:
    found = reading(files)
    assert len(found.unread) == 1 and told in found.unread[0], found.unread


def test_a_missing_file_includes_nothing() -> None:
    assert reading({}) == Includes()
    assert reading({CI_FILE: "include: /a.yml\n"}) == Includes(("a.yml",))
