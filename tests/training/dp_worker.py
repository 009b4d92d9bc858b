"""The two-process side of ``tests/training/test_distributed.py``: run under
``torchrun --standalone --nproc_per_node 2 tests/training/dp_worker.py OUT_DIR``.

It trains the tiny diffusion UNet of :func:`setup` data-parallel into ``OUT_DIR/dp`` (the
test compares that checkpoint with a one-process run and resumes it), then checks that a
``loss_fn`` that bypasses the DDP wrapper is refused, writing the error to
``OUT_DIR/bare_error.txt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from ldm_teach.diffusion import NoiseSchedule, ScheduleConfig, q_sample
from ldm_teach.models import small_unet
from ldm_teach.training import TrainConfig

STEPS = 6
CONFIG = TrainConfig(
    steps=STEPS,
    batch_size=8,  # the global batch: 4 rows per process with 2 processes
    lr=1e-3,
    warmup_steps=2,
    grad_accum=2,
    grad_clip=0.5,
    ema_decay=0.9,
    checkpoint_every=3,
    seed=3,
)


def setup(n: int = 32) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], object]:
    """(the UNet, its data, its loss): ``small_unet(1)`` on (n, 1, 8, 8) noise "images",
    with the diffusion loss's randomness (eps, t) stored as data columns, so that the
    shards of a batch carry exactly the noise the whole batch carries in one process."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(n, 1, 8, 8, generator=g)
    eps = torch.randn(n, 1, 8, 8, generator=g)
    t = torch.randint(0, 100, (n,), generator=g)
    schedule = NoiseSchedule(ScheduleConfig(num_train_timesteps=100))

    def loss_fn(model, batch, gen):  # Ho et al. 2020, Eq. 14, with eps and t given
        x0, eps, t = batch
        return F.mse_loss(model(q_sample(x0, t, eps, schedule), t), eps)

    return small_unet(1, seed=0), (x0, eps, t), loss_fn


def main(out: Path) -> None:
    from accelerate import Accelerator

    from ldm_teach.training import train

    torch.set_num_threads(1)
    accelerator = Accelerator(cpu=True)
    assert accelerator.num_processes == 2, accelerator.state
    model, data, loss_fn = setup()
    train(
        model,
        loss_fn,
        data,
        CONFIG,
        checkpoint_dir=out / "dp",
        progress=False,
        accelerator=accelerator,
    )

    # a loss that calls the bare module by another name: the gradients are not averaged
    bare, data, loss_fn = setup()
    try:
        train(
            bare,
            lambda _, batch, gen: loss_fn(bare, batch, gen),
            data,
            CONFIG,
            progress=False,
            accelerator=accelerator,
        )
    except RuntimeError as err:
        if accelerator.is_main_process:
            (out / "bare_error.txt").write_text(str(err))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
