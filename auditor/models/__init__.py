"""Models: architecture registry, checkpoints and the training loop."""

from auditor.models import external  # noqa: F401  (registers the arch resolvers)
from auditor.models.checkpoints import load_checkpoint, read_state_dict, state_dict_bytes
from auditor.models.registry import (
    ArchInfo,
    build_model,
    default_target_layer,
    get_arch,
    list_archs,
    register_arch,
)

__all__ = [
    "ArchInfo",
    "build_model",
    "default_target_layer",
    "get_arch",
    "list_archs",
    "load_checkpoint",
    "read_state_dict",
    "register_arch",
    "state_dict_bytes",
]
