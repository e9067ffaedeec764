"""How fast `sealer seal` is on a Secret with 5,000 entries, against the raw crypto floor.

    python3 bench/seal_bench.py [--entries 5000] [--runs 7]

Figures, each the median of several interleaved runs, all measured in this run on this machine:
  start-up  `python -c pass`, the bare interpreter
  seal      the whole `sealer seal -f secret.yaml --cert tls.crt -w out.yaml` process
  floor     a single-threaded in-process loop of RSA-OAEP-4096 + AES-256-GCM per value, with
            the same cryptography library: the cost of the sealing work alone
The target is (seal - start-up) / floor <= 1.0. sealer forks a worker per core, so the target
needs the machine's cores free: on a busy machine the figures mean little.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TARGET = 1.0


def sealer_command() -> list[str]:
    script = Path(sys.executable).with_name("sealer")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sealer"]


# Bytecode is cached as in any install: a PYTHONDONTWRITEBYTECODE inherited from the shell
# would make every run compile sealer's modules again and time the compiler instead.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_inputs(folder: Path, entries: int) -> tuple[Path, Path, list[bytes]]:
    """A 4096-bit controller keypair and a Secret with `entries` API-key-sized values."""
    subprocess.run(
        [*sealer_command(), "keypair", "--out", str(folder / "keys")],
        env=ENV,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    values = [f"slr_bench_{secrets.token_urlsafe(30)}".encode() for _ in range(entries)]
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", "  name: bench", "  namespace: bench", "data:"]
    lines += [f"  key-{i:05d}: {base64.b64encode(v).decode()}" for i, v in enumerate(values)]
    (folder / "secret.yaml").write_text("\n".join(lines) + "\n")
    return folder / "keys" / "tls.crt", folder / "secret.yaml", values


def floor(cert_path: Path, values: list[bytes]) -> float:
    """RSA-OAEP(SHA-256) of a fresh session key plus AES-256-GCM of the value, per value."""
    public_key = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"bench/bench")
    nonce = bytes(12)
    start = time.perf_counter()
    for value in values:
        session_key = os.urandom(32)
        public_key.encrypt(session_key, oaep)
        AESGCM(session_key).encrypt(nonce, value, None)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    startups, wholes, floors, ratios, cpus = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cert, secret, values = make_inputs(folder, args.entries)
        seal = [
            *sealer_command(),
            "seal",
            "-f",
            str(secret),
            "--cert",
            str(cert),
            "-w",
            str(folder / "out.yaml"),
        ]
        timed(seal, folder)  # warm the file cache and bytecode
        for _ in range(args.runs):  # interleaved, so a busy moment hits all three alike
            startups.append(timed([sys.executable, "-c", "pass"], folder))
            cpu = cpu_of_children()
            wholes.append(timed(seal, folder))
            cpus.append(cpu_of_children() - cpu)
            floors.append(floor(cert, values))
            ratios.append((wholes[-1] - startups[-1]) / floors[-1])
        sealed = (folder / "out.yaml").read_text().count("\n    key-")
    assert sealed == args.entries, f"expected {args.entries} sealed entries, found {sealed}"
    startup, whole, raw = (statistics.median(x) for x in (startups, wholes, floors))
    ratio = statistics.median(ratios)
    cores = len(os.sched_getaffinity(0))
    print(f"entries:                    {args.entries} (RSA-4096, median of {args.runs} runs, {cores} cores)")
    print(f"python -c pass:             {startup:.3f} s")
    print(f"sealer seal, whole process: {whole:.3f} s")
    print(f"  minus start-up:           {whole - startup:.3f} s")
    print(f"  CPU, all its processes:   {statistics.median(cpus):.3f} s (start-up included)")
    print(f"raw floor (1 thread):       {raw:.3f} s")
    print(
        f"ratio:                      {ratio:.2f}x (median of per-run ratios; target <= {TARGET:.1f}x): "
        f"{'ok' if ratio <= TARGET else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
