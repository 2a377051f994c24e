"""Saliency: one forward + one backward per batch serve logits, embeddings and every CAM map.

Public API::

    from auditor.saliency import CamEngine, CamOutput, normalize, list_methods, get_method
    from auditor.saliency import model_randomization_check, SanityResult, methods_need_input_grad
"""

from auditor.saliency import pixel  # noqa: F401  (registers the pixel-space methods)
from auditor.saliency.engine import CamEngine, CamOutput, normalize
from auditor.saliency.layers import resolve_target_layer
from auditor.saliency.methods import (
    MethodInfo,
    get_method,
    list_methods,
    methods_need_input_grad,
    register_method,
)
from auditor.saliency.sanity import SanityResult, model_randomization_check

__all__ = [
    "CamEngine",
    "CamOutput",
    "MethodInfo",
    "SanityResult",
    "get_method",
    "list_methods",
    "methods_need_input_grad",
    "model_randomization_check",
    "normalize",
    "register_method",
    "resolve_target_layer",
]
