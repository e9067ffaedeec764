"""`sealer scan`: the plaintext guard behind the pre-commit hook and the CI check.

    files.py      which files, and why one is skipped (paths, --staged blobs, --all-files)
    contents.py   what a file's bytes hold: text pieces (decoded, chunked, unpacked from
                  archives) or why it could not be examined (fail closed)
    history.py    --history: every blob reachable in a revision range once, with its commit
    rules.py      the detector policy (policies/detectors.yaml): load, validate, compile
    engine.py     token and assignment rules over a file's bytes (keyword-anchored regexes)
    keywords.py   where the keywords occur: one pass per first byte, not one per keyword
    values.py     what a value must look like to count: entropy, ignore list, ciphertext
    confirm.py    checks a token must also pass (CRC32 checksums of sealer, GitHub and npm
                  tokens, JWT header, base64 user:password)
    manifests.py  YAML documents with line numbers for the structural detectors
    k8s_secret.py, sealed_values.py   the structural detectors
    scanner.py    one file in, findings out; allow comments and the baseline applied
    workers.py    large scans on every core: files listed here, read and scanned in workers
    findings.py   what a finding carries (never the secret: a masked preview and a hash)
    baseline.py   accepted findings by fingerprint
    report.py     text, JSON and SARIF 2.1.0
    hiding.py     a credential the token rules know, hidden from an error line sealer prints

Nothing here imports cryptography, ruamel or jinja2: the hook must start fast.
"""
