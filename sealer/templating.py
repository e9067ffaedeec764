"""Jinja2 over the templates shipped in `templates/` (package data)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sealer import resources, terminal, yamlio

if TYPE_CHECKING:
    import jinja2


def _load(name: str) -> str:
    return (resources.templates() / name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    import jinja2  # on first render only: `sealer check` (a hook) never renders a template

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(["html"]),
    )
    # Every value goes through the YAML scalar emitter: templates stay injection-proof.
    env.filters["yaml"] = yamlio.scalar
    # Markdown (the pull-request description): a repository's text as a code span no backtick
    # in it can close.
    env.filters["code"] = terminal.markdown_code
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
