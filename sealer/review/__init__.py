"""`sealer review`: explain and check every change to sealed data between two revisions.

model (what a review finds) · revisions (files as they were) · checks (per environment) ·
history (commit by commit) · core (putting it together) · report (text and Markdown).
"""

from sealer.review.core import review
from sealer.review.report import to_markdown, to_text

__all__ = ["review", "to_markdown", "to_text"]
