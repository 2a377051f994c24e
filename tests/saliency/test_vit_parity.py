"""ViT Grad-CAM agrees with pytorch-grad-cam's, given its ViT ``reshape_transform``.

pytorch-grad-cam's tutorial reshape for ViTs drops the class token and lays the remaining
tokens out as a square grid; our engine does the same in ``tokens_to_grid``. Both maps are
compared after min-max normalisation (pytorch-grad-cam returns them so): max |diff| <= 1e-4.
"""

from __future__ import annotations

import pytest
import torch
from helpers.saliency import images

from auditor.saliency import CamEngine, normalize

gradcam_lib = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _reshape_transform(tensor, height=4, width=4):
    """pytorch-grad-cam's ViT example (docs: vision transformers)."""
    result = tensor[:, 1:, :].reshape(tensor.size(0), height, width, tensor.size(2))
    return result.transpose(2, 3).transpose(1, 2)


@pytest.fixture(scope="module")
def vit():
    from torchvision.models import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                              hidden_dim=32, mlp_dim=64, num_classes=3).eval()
    torch.nn.init.normal_(model.heads.head.weight)  # torchvision zero-inits the head
    return model


def test_vit_gradcam_matches_pytorch_grad_cam(vit):
    x = images(3, 32)
    engine = CamEngine(vit, "auto", ["gradcam"])
    out = engine(x)
    assert engine.target_layer == "encoder.layers.encoder_layer_1.ln_1"  # what the peer uses
    layer = vit.encoder.layers[-1].ln_1
    with gradcam_lib.GradCAM(model=vit, target_layers=[layer],
                             reshape_transform=_reshape_transform) as cam:
        theirs = torch.from_numpy(cam(input_tensor=x, targets=[
            ClassifierOutputTarget(int(t)) for t in out.targets]))
    ours, theirs = normalize(out.maps[:, 0]), normalize(theirs)
    assert ours.amax() > 0, "degenerate test: our map is all zero"
    assert (ours - theirs).abs().max().item() <= 1e-4
    assert not torch.allclose(ours[0], ours[1], atol=1e-2)  # maps differ per image
