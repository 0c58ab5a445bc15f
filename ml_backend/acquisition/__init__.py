"""Active learning: which clips to label next. Pure numpy, no Django, no torch.

Score apart from selection (baal, modAL):
- `scores`: one number per clip in [0, 1] from its proposal(s) (`types.ClipEvidence`): pixel entropy (mean or
  top-k mean), teacher–student disagreement, temporal inconsistency, audio-tag entropy, a weighted combination;
- `select`: a batch from those numbers: top-k, k-center greedy on clip embeddings, score-weighted diverse;
- `registry`: strategies by name with their default weights, validated settings, `score_evidence`.

The server reaches these through `ml_backend.serving` (`score_clip`, `select_batch`).
"""

from ml_backend.acquisition.registry import STRATEGY_NAMES, Strategy, get_strategy, score_evidence, strategy_from_dict
from ml_backend.acquisition.scores import MissingEvidenceError
from ml_backend.acquisition.select import Selection, k_center_greedy, score_weighted_diverse, top_k
from ml_backend.acquisition.types import ClipEvidence, ClipScore, TermScore

__all__ = [
    "STRATEGY_NAMES",
    "ClipEvidence",
    "ClipScore",
    "MissingEvidenceError",
    "Selection",
    "Strategy",
    "TermScore",
    "get_strategy",
    "k_center_greedy",
    "score_evidence",
    "score_weighted_diverse",
    "strategy_from_dict",
    "top_k",
]
