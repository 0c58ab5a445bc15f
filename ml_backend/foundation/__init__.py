"""Foundation models, one stage per module: audio tagging (CLAP), prompt translation (LLM + audio-visual tree),
grounding (Grounding DINO / OWLv2), SAM, CLIP labels; `registry` loads them once per process from `config`.

Importing this package loads no weights and touches no GPU.
"""
