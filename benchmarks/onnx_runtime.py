"""Benchmark: Sec. 10.5.3's deployment, ONNX Runtime against PyTorch on this CPU.

The shipped text-to-image model is exported to ONNX in a temporary folder, then the same
prompts are sampled from the same starting noise by ``TextToImage.sample`` (PyTorch) and by
``OnnxTextToImage.sample`` (ONNX Runtime + numpy), with the same number of threads, the two
runs alternating so that both see the same load. Printed: the median wall time of each,
their ratio, and the max |Δ| of the images (float32 rounding: about 1e-6).

    python benchmarks/onnx_runtime.py [--model shapes-t2i] [--batch 4] [--steps 25]
        [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import onnxruntime
import torch

from ldm_teach.data.shapes import all_attributes, caption_for
from ldm_teach.deploy import OnnxTextToImage, export_onnx
from ldm_teach.pretrained.text_registry import load_text_to_image
from ldm_teach.viz import table


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="shapes-t2i")
    parser.add_argument("--weights-dir", default=None)
    parser.add_argument("--batch", type=int, default=4, help="prompts per sampling run")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each sampler")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="threads of both"
    )
    args = parser.parse_args()
    if not 1 <= args.batch <= 216:
        parser.error("--batch must be in [1, 216]")
    if not 1 <= args.steps <= 1000:
        parser.error("--steps must be in [1, 1000]")
    if not 1 <= args.repeats <= 100 or args.threads < 1:
        parser.error("--repeats must be in [1, 100] and --threads >= 1")

    torch.set_num_threads(args.threads)
    model = load_text_to_image(args.model, args.weights_dir)
    prompts = [caption_for(a) for a in all_attributes()[: args.batch]]
    x_T = torch.randn(args.batch, *model.latent_shape(), generator=torch.Generator().manual_seed(0))
    print(
        f"{args.model}: {args.batch} prompts, {args.steps} DDIM steps, guidance 3; "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
        f"{onnxruntime.__version__} ({args.threads} intra-op threads); "
        f"{os.cpu_count()} CPUs, load average before: {_load()}"
    )
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        export_onnx(model, folder)
        print(f"export: {time.perf_counter() - t0:.1f} s")
        onnx_model = OnnxTextToImage(folder, num_threads=args.threads)

        def run_torch():
            return model.sample(prompts, x_T=x_T, num_inference_steps=args.steps).numpy()

        def run_onnx():
            return onnx_model.sample(prompts, x_T=x_T.numpy(), num_inference_steps=args.steps)

        images = {"PyTorch": run_torch(), "ONNX Runtime": run_onnx()}  # warm-up
        times: dict[str, list[float]] = {name: [] for name in images}
        for _ in range(args.repeats):  # alternating, so that both see the same load
            for name, run in (("PyTorch", run_torch), ("ONNX Runtime", run_onnx)):
                t0 = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t0)
    median = {name: statistics.median(ts) for name, ts in times.items()}
    gap = float(np.abs(images["ONNX Runtime"] - images["PyTorch"]).max())
    rows = [
        (name, median[name], min(times[name]), median["PyTorch"] / median[name])
        for name in ("PyTorch", "ONNX Runtime")
    ]
    print(
        table(
            rows,
            columns=("sampler", "median (s)", "best (s)", "speed-up vs PyTorch"),
            formats={"median (s)": ".3f", "best (s)": ".3f", "speed-up vs PyTorch": ".2f"},
            title=f"one sampling run, median of {args.repeats}",
        )
    )
    print(f"ONNX Runtime / PyTorch time: {median['ONNX Runtime'] / median['PyTorch']:.2f}")
    print(f"max |images ONNX Runtime - PyTorch|: {gap:.2e}")
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
