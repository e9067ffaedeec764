"""The templates, policies and chart shipped with sealer (package data; the repo folders are the source)."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable


def templates() -> Traversable:
    return resources.files("sealer.templates")


def policies() -> Traversable:
    return resources.files("sealer.policies")


def chart() -> Traversable:
    return resources.files("sealer.chart")
