"""Per-atom explanations of predictions, for every model kind, and their drawings.

``explain(bundle, smiles) -> list[Explanation]`` and ``draw_svg(explanation) -> str`` are what the
CLI (``molops explain``), the service (``POST /v1/explain``) and the web pages use; the rules that
make ``atom_weights`` add up are in :mod:`molops.explain.core`.
"""

from molops.explain.attribution import ExplainError
from molops.explain.core import Explanation, check_explainable, explain, method_for
from molops.explain.drawing import draw_svg, write_svgs

__all__ = [
    "ExplainError",
    "Explanation",
    "check_explainable",
    "draw_svg",
    "explain",
    "method_for",
    "write_svgs",
]
