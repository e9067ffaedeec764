"""`sealer review`: explain and check every change to sealed data between two revisions.

model (what a review finds) · revisions (files as they were) · checks (per environment) ·
construct (files against what sealer writes) · ledger_rules (the ledger's state machine) ·
history (commit by commit) · stray and kustomize (files a GitOps tool applies as sealer's) ·
remote_sources (GitOps sources review cannot read) ·
plaintext (scan detectors over changed blobs) · sensitive (what needs an approval) · gitlab_ci
(the files BASE's pipeline includes, gate files too) · approvals
(trust anchors at BASE, approval channels) · signatures (--require-signed) · branch_claims
(`Sealer-Branch:` trailers) · core (putting it together) · report (text and Markdown).
"""

from sealer.review.core import Options, review
from sealer.review.report import to_json, to_markdown, to_text

__all__ = ["Options", "review", "to_json", "to_markdown", "to_text"]
