"""Student models (OpenAVS-ST): see `base.py` for the interface."""
