"""Package data: lets importlib.resources find this folder in every kind of install."""
