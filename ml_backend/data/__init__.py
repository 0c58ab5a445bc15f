"""Data files shipped with the ML backend (see README.md here): the AudioSet ontology and the audio-visual tree."""
