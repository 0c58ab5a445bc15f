"""Command modules of `python -m ml_backend` (see `ml_backend/__main__.py`)."""
