from __future__ import annotations

import json
from pathlib import Path

import pytest
import reference as ref
from support.cli import assert_one_line_error, invoke, run_main

from sealer import certs


@pytest.fixture(scope="module")
def bad_certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return ref.bad_certificates(tmp_path_factory.mktemp("badcerts"))


def test_show_prints_fingerprint_subject_expiry_and_size(keypair_dir: Path) -> None:
    path = keypair_dir / "tls.crt"
    run = invoke(["cert", "show", str(path)])
    assert run.code == 0
    fp = certs.fingerprint(certs.load_certificate(path))
    assert f"fingerprint: {fp}" in run.stdout
    assert "subject: CN=sealed-secret" in run.stdout and "key_bits: 4096" in run.stdout
    data = json.loads(invoke(["cert", "show", str(path), "-o", "json"]).stdout)
    assert data["fingerprint"] == fp and data["key_bits"] == 4096 and data["not_after"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("garbage", "not a PEM certificate"),
        ("empty", "not a PEM certificate"),
        ("ec", "sealing needs RSA"),
        ("weak", "too weak"),
        ("expired", "expired on"),
        ("missing", "cannot read certificate"),
    ],
)
def test_show_refuses_what_cannot_seal(
    bad_certs: dict[str, Path], capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    assert_one_line_error(run_main(["cert", "show", str(bad_certs[case])], capsys), 2, message)
