"""Throughput of auditor's CamEngine against peer libraries on the same model, batch and device.

    python bench/saliency.py --model resnet18 --batch 16 --size 224 --device cpu --iters 5

Rows: plain ``no_grad`` inference (the floor), auditor gradcam, auditor with four gradient
methods fused (gradcam, gradcam++, xgradcam, layercam), pytorch-grad-cam GradCAM / GradCAM++,
captum LayerGradCam and torch-cam GradCAM (each upsampled to the input size like ours).
Peers that need class indices get them precomputed (free for them); ours and pytorch-grad-cam
take the predicted class themselves. Times are medians over ``--iters`` rounds after one
warm-up, the rows interleaved round-robin (shared machines drift).
Targets (CPU, resnet18, 224, batch 16): auditor gradcam <= 1.25x inference, >= 2x faster than
pytorch-grad-cam GradCAM.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torchvision

from auditor.saliency import CamEngine

FUSED = ["gradcam", "gradcam++", "xgradcam", "layercam"]


def _timed(runners: dict[str, Callable[[], object]], iters: int,
           device: torch.device) -> dict[str, float]:
    """Median seconds per call; rows run round-robin so load drift hits every row alike."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times: dict[str, list[float]] = {name: [] for name in runners}
    for fn in runners.values():  # warm-up
        fn()
    sync()
    for _ in range(iters):
        for name, fn in runners.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _runners(model, x, targets) -> dict[str, Callable[[], object]]:
    size = x.shape[-2:]
    layer = model.layer4

    def up(cams: torch.Tensor) -> torch.Tensor:
        return F.interpolate(cams, size=size, mode="bilinear", align_corners=False)

    def inference():
        with torch.no_grad():
            return model(x)

    ours = CamEngine(model, "layer4", ["gradcam"])
    fused = CamEngine(model, "layer4", FUSED)
    runners = {"inference (no_grad)": inference, "auditor gradcam": lambda: ours(x),
               "auditor 4 fused": lambda: fused(x)}
    try:
        from pytorch_grad_cam import GradCAM, GradCAMPlusPlus

        def pgc_run(cls):  # hooks live only for the call, so they never slow the other rows
            def run():
                with cls(model=model, target_layers=[layer]) as cam:
                    return cam(input_tensor=x, targets=None)

            return run

        runners["pytorch-grad-cam GradCAM"] = pgc_run(GradCAM)
        runners["pytorch-grad-cam GradCAM++"] = pgc_run(GradCAMPlusPlus)
    except ImportError:
        pass
    try:
        from captum.attr import LayerGradCam

        lgc = LayerGradCam(model, layer)
        runners["captum LayerGradCam"] = lambda: up(lgc.attribute(x, target=targets,
                                                                  relu_attributions=True))
    except ImportError:
        pass
    try:
        from torchcam.methods import GradCAM as TorchCamGradCAM

        def torchcam_run():
            with TorchCamGradCAM(model, "layer4") as extractor:
                scores = model(x)
                cams = extractor(class_idx=targets.tolist(), scores=scores)
            return up(cams[0][:, None])

        runners["torch-cam GradCAM"] = torchcam_run
    except ImportError:
        pass
    return runners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["resnet18", "resnet50"], default="resnet18")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.model)(weights=None, num_classes=10).to(device).eval()
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    with torch.no_grad():
        targets = model(x).argmax(1)
    results = _timed(_runners(model, x, targets), args.iters, device)
    floor, ours = results["inference (no_grad)"], results["auditor gradcam"]
    print(f"{args.model} batch {args.batch} size {args.size} device {device} "
          f"threads {torch.get_num_threads()} iters {args.iters} (median)")
    print(f"{'method':30s} {'ms/batch':>10s} {'images/s':>10s} {'x inference':>12s} "
          f"{'x auditor gc':>13s}")
    for name, sec in results.items():
        print(f"{name:30s} {sec * 1e3:10.1f} {args.batch / sec:10.1f} {sec / floor:12.2f} "
              f"{sec / ours:13.2f}")


if __name__ == "__main__":
    main()
