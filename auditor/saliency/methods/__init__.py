"""Saliency methods behind one registry (``register_method`` / ``get_method`` / ``list_methods``).

Importing this package registers the CAM families; ``auditor.saliency.pixel`` registers the
pixel-space methods (imported by ``auditor.saliency``).
"""

from auditor.saliency.methods import cam, eigen, gradient, score, smooth  # noqa: F401 (register)
from auditor.saliency.methods.registry import (
    CamContext,
    MethodInfo,
    get_method,
    list_methods,
    methods_need_input_grad,
    register_method,
    resolve_options,
)

__all__ = [
    "CamContext",
    "MethodInfo",
    "get_method",
    "list_methods",
    "methods_need_input_grad",
    "register_method",
    "resolve_options",
]
