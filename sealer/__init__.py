"""sealer: deliver API keys to Kubernetes clusters through Git, sealed for Bitnami Sealed Secrets."""

__version__ = "0.1.0"
