"""Parity with the peer libraries on the same model, layer, images and classes.

pytorch-grad-cam (``import pytorch_grad_cam``) min-max normalises each map at the activation
resolution and resizes with ``cv2.resize`` (bilinear, half-pixel centres), so we compare our
maps after :func:`auditor.saliency.normalize` with theirs (re-normalised): tolerance
``max |ours - theirs| <= 1e-4`` (measured ~1e-6; Score-CAM ~1e-4 because its masks are upsampled
with ``align_corners=True`` there and ``False`` here, as in the Score-CAM authors' code -- hence
``5e-4`` for it). captum returns raw attributions: we compare raw values, ``rtol 1e-4`` of scale.

Peer deviations found (not used as references): torch-cam's ``GradCAMpp`` divides a copy made by
boolean indexing (``alpha[idx][mask].div_``), so its alphas stay ``g^2`` -- not the paper's
eq. 19; its ``SmoothGradCAMpp`` uses the last noisy sample's gradient in ``ReLU(.)``. Our
Grad-CAM++ therefore follows the paper / pytorch-grad-cam, and Smooth Grad-CAM++ is checked by a
known answer (zero noise equals Grad-CAM++) in test_saliency_methods.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.saliency import images

from auditor.saliency import CamEngine, normalize

gradcam_lib = pytest.importorskip("pytorch_grad_cam")
captum_attr = pytest.importorskip("captum.attr")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection  # noqa: E402

PEERS = {
    "gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM",
    "layercam": "LayerCAM", "hirescam": "HiResCAM", "gradcam-elementwise": "GradCAMElementWise",
}
TOL = 1e-4
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _peer_maps(model, layer, cls_name, x, targets):
    peer = getattr(gradcam_lib, cls_name)
    with peer(model=model, target_layers=[layer]) as cam:
        return torch.from_numpy(cam(input_tensor=x, targets=[
            ClassifierOutputTarget(int(t)) for t in targets]))


def _check(ours, theirs, tol=TOL):
    ours, theirs = normalize(ours), normalize(theirs)
    assert ours.amax() > 0, "degenerate test: our map is all zero"
    assert (ours - theirs).abs().max().item() <= tol
    corr = np.corrcoef(ours.flatten().numpy(), theirs.flatten().numpy())[0, 1]
    assert corr > 0.999


def test_gradient_methods_match_pytorch_grad_cam_resnet18(resnet18):
    x = images(2, 128)  # layer4 -> 4x4
    names = list(PEERS)
    out = CamEngine(resnet18, "layer4", names)(x)
    for i, name in enumerate(names):
        _check(out.maps[:, i], _peer_maps(resnet18, resnet18.layer4, PEERS[name], x, out.targets))


def test_cam_methods_match_pytorch_grad_cam_vgg(small_vgg):
    """Flatten + MLP head: gradients vary over positions, so xgradcam / hirescam / layercam
    really differ from gradcam here (on a GAP head they coincide)."""
    x = images(3, 32)
    names = [*PEERS, "scorecam", "eigencam"]
    out = CamEngine(small_vgg, "features.8", names, chunk_size=32)(x)
    peers = {**PEERS, "scorecam": "ScoreCAM", "eigencam": "EigenCAM"}
    layer = small_vgg.features[8]
    for i, name in enumerate(names):
        theirs = _peer_maps(small_vgg, layer, peers[name], x, out.targets)
        if name == "eigencam":
            theirs = _eigencam_sign_aligned(small_vgg, layer, x, theirs)
        _check(out.maps[:, i], theirs, tol=5e-4 if name == "scorecam" else TOL)
    hires, grad = out.maps[:, names.index("hirescam")], out.maps[:, names.index("gradcam")]
    assert not torch.allclose(normalize(hires), normalize(grad), atol=1e-2)


def _eigencam_sign_aligned(model, layer, x, peer_maps):
    """pytorch-grad-cam's EigenCAM with its principal component's sign set to ours.

    The sign of an SVD component is arbitrary (it differs between LAPACK builds), and their
    ReLU + min-max after the projection makes a flipped map unrecoverable from the other one.
    So: capture the layer's activations, project them with their ``get_2d_projection``, align
    the sign with ours, and apply their own post-processing (ReLU, ``scale_cam_image``). That
    this reproduces their output for one of the two signs is checked first, so the reference
    stays theirs.
    """
    from pytorch_grad_cam.utils.image import scale_cam_image

    from auditor.saliency.methods.eigen import first_component

    acts = []
    handle = layer.register_forward_hook(lambda _m, _i, o: acts.append(o.detach()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    a = acts[0]
    theirs_proj = torch.from_numpy(get_2d_projection(a.numpy().copy()))
    size = (x.shape[-1], x.shape[-2])

    def post(proj):  # BaseCAM: ReLU, min-max + resize per layer, then min-max of the mean
        return torch.from_numpy(scale_cam_image(scale_cam_image(np.maximum(proj.numpy(), 0),
                                                                size)))

    for k in range(len(x)):
        err = min((post(theirs_proj[k:k + 1] * s)[0] - peer_maps[k]).abs().max().item()
                  for s in (1.0, -1.0))
        assert err <= TOL, f"their EigenCAM pipeline changed (sample {k}: {err:.2e})"
    sign = torch.sign((first_component(a) * theirs_proj).sum(dim=(1, 2)))[:, None, None]
    return post(theirs_proj * sign)


def test_eigencam_projection_matches_pytorch_grad_cam_up_to_sign(resnet18):
    from auditor.saliency.methods.eigen import first_component

    acts = torch.relu(torch.randn(3, 16, 5, 5)) + torch.rand(3, 16, 1, 1)
    ours = first_component(acts)
    theirs = torch.from_numpy(get_2d_projection(acts.numpy()))
    sign = torch.sign((ours * theirs).sum(dim=(1, 2)))[:, None, None]
    torch.testing.assert_close(ours, theirs * sign, atol=1e-4, rtol=1e-4)
    # our sign rule: positively correlated with the (centred) channel sum
    total = acts.sum(1).flatten(1)
    total = total - total.mean(1, keepdim=True)
    assert ((ours.flatten(1) * total).sum(1) > 0).all()


def _unit(x):
    return x / x.flatten(1).abs().amax(1)[:, None, None, None]


@pytest.mark.parametrize("arch", ["small_vgg", "resnet18"])
def test_pixel_methods_match_captum(arch, request):
    """Raw values, not normalised: captum's GuidedBackprop / GuidedGradCam (bilinear) / Saliency /
    NoiseTunnel(smoothgrad, same seed) / Occlusion (3 x 8 x 8 window, stride 4, baseline 0), each
    reduced like ours (max over channels of |.|; occlusion ReLU). resnet18 reuses in-place ReLU
    modules, which the guided hooks must handle."""
    model = request.getfixturevalue(arch)
    size, layer = (32, "features.8") if arch == "small_vgg" else (64, "layer4")
    x = _unit(images(2, size))
    names = ["gradient", "smoothgrad", "guided-backprop", "guided-gradcam", "occlusion"]
    opts = {"smoothgrad": {"n": 4, "stdev": 0.2}, "occlusion": {"window": 8, "stride": 4}}
    out = CamEngine(model, layer, names, options=opts, chunk_size=256, seed=0)(x)
    t = out.targets
    refs = {"gradient": captum_attr.Saliency(model).attribute(x, target=t).amax(1)}
    torch.manual_seed(0)
    refs["smoothgrad"] = captum_attr.NoiseTunnel(captum_attr.Saliency(model)).attribute(
        x, nt_type="smoothgrad", nt_samples=4, stdevs=0.2, target=t).amax(1)
    refs["guided-backprop"] = captum_attr.GuidedBackprop(model).attribute(x, target=t)
    refs["guided-backprop"] = refs["guided-backprop"].abs().amax(1)
    ggc = captum_attr.GuidedGradCam(model, model.get_submodule(layer))
    refs["guided-gradcam"] = ggc.attribute(x, target=t, interpolate_mode="bilinear").abs().amax(1)
    refs["occlusion"] = captum_attr.Occlusion(model).attribute(
        x, sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4), target=t, baselines=0)[:, 0]
    refs["occlusion"] = refs["occlusion"].clamp(min=0)
    for i, name in enumerate(names):
        ref = refs[name].detach()
        assert ref.abs().max() > 0, name
        torch.testing.assert_close(out.maps[:, i], ref, rtol=1e-4,
                                   atol=1e-4 * ref.abs().max().item(), msg=name)
