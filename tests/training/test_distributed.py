"""Data-parallel training (ldm_teach.training.distributed, ``train(..., accelerator=)``).

The two-process test launches ``tests/training/dp_worker.py`` under ``torchrun`` (gloo, two
CPU processes; ``accelerate launch --cpu --num_processes 2`` would start one) and compares
its checkpoint with a one-process run of the same global batch. Measured on one CPU: max
|Δ| of the weights 3.2e-06 and of the EMA 1.3e-06 after 6 steps (lr 1e-3; a wrong shard or
a missing average moves them by about 1e-2), losses equal to 1e-7.
"""

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from ldm_teach.training import load_tensors, train
from ldm_teach.training.distributed import check_accelerator, loss_generator, shard_indices

sys.path.insert(0, str(Path(__file__).parent))
from dp_worker import CONFIG, STEPS, setup  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS_ATOL = 1e-4  # 30x the measured gap, 100x below the effect of a wrong gradient


def _max_gap(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def _run_two_processes(out: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", str(ROOT / "tests/training/dp_worker.py"), str(out)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_two_processes_equal_one_process_and_resume_in_one(tmp_path):
    _run_two_processes(tmp_path)
    tensors, meta = load_tensors(tmp_path / "dp" / "checkpoint.safetensors")
    assert meta["step"] == STEPS

    # 1. the same global batches in one process: the same weights, EMA and losses
    model, data, loss_fn = setup()
    one = train(model, loss_fn, data, CONFIG, checkpoint_dir=tmp_path / "one", progress=False)
    ref, _ = load_tensors(tmp_path / "one" / "checkpoint.safetensors")
    assert tensors.keys() == ref.keys()  # no "module." prefix: unwrapped before saving
    weights = [k for k in ref if k.startswith(("model.", "ema."))]
    assert _max_gap({k: tensors[k] for k in weights}, {k: ref[k] for k in weights}) < WEIGHTS_ATOL
    assert meta["losses"] == pytest.approx(one.losses, rel=1e-6)

    # 2. the two-process checkpoint resumes in one process as if it had been trained there
    model, data, loss_fn = setup()
    longer = replace(CONFIG, steps=STEPS + 3)
    resumed = train(model, loss_fn, data, longer, checkpoint_dir=tmp_path / "dp", resume=True,
                    progress=False)  # fmt: skip
    model, data, loss_fn = setup()
    straight = train(model, loss_fn, data, longer, progress=False)
    assert len(resumed.losses) == STEPS + 3
    gap = _max_gap(resumed.model.state_dict(), straight.model.state_dict())
    assert gap < WEIGHTS_ATOL
    assert _max_gap(resumed.ema_model.state_dict(), straight.ema_model.state_dict()) < WEIGHTS_ATOL

    # 3. a loss_fn that calls the bare module, not the DDP wrapper it is given, is refused
    error = (tmp_path / "bare_error.txt").read_text()
    assert "gradients differ between the 2 processes" in error
    assert "loss_fn must call the model it is given" in error


def test_one_process_accelerator_equals_the_plain_loop_exactly():
    accelerator = Accelerator(cpu=True)
    assert accelerator.num_processes == 1
    model, data, loss_fn = setup(16)
    cfg = replace(CONFIG, steps=3)

    def noisy(model, batch, gen):  # draws from the generator: it must be the same one
        x0, eps, t = batch
        return loss_fn(model, (x0, torch.randn(eps.shape, generator=gen), t), gen)

    plain = train(model, noisy, data, cfg, progress=False)
    model, data, _ = setup(16)
    accelerated = train(model, noisy, data, cfg, progress=False, accelerator=accelerator)
    assert accelerated.losses == plain.losses
    assert _max_gap(accelerated.model.state_dict(), plain.model.state_dict()) == 0.0


def test_shards_of_the_global_batch_concatenate_to_it():
    idx = torch.randperm(12)
    for p in (1, 2, 3, 4, 6, 12):
        shards = [shard_indices(idx, r, p) for r in range(p)]
        assert all(len(s) == 12 // p for s in shards)
        assert torch.equal(torch.cat(shards), idx)
    with pytest.raises(ValueError, match="num_processes must divide"):
        shard_indices(idx, 0, 5)
    with pytest.raises(ValueError, match="process_index"):
        shard_indices(idx, 2, 2)


def test_loss_generators_differ_between_processes_and_repeat():
    gen = torch.Generator().manual_seed(7)
    assert loss_generator(gen, 7, 0, 0, 1) is gen  # one process: the plain loop's
    state = gen.get_state()
    draws = [torch.randn(4, generator=loss_generator(gen, 7, 0, r, 2)) for r in (0, 1)]
    assert torch.equal(gen.get_state(), state)  # the batch indices' generator is untouched
    assert not torch.equal(draws[0], draws[1])
    again = torch.randn(4, generator=loss_generator(gen, 7, 0, 1, 2))
    assert torch.equal(again, draws[1])
    other_micro = torch.randn(4, generator=loss_generator(gen, 7, 1, 1, 2))
    assert not torch.equal(other_micro, draws[1])


def test_bad_accelerators_are_refused_naming_the_argument():
    cpu = torch.device("cpu")
    with pytest.raises(TypeError, match="accelerator must be an accelerate.Accelerator"):
        check_accelerator("gloo", 8, cpu)
    accelerator = Accelerator(cpu=True)
    check_accelerator(accelerator, 7, cpu)  # one process divides every batch
    accelerator.gradient_accumulation_steps = 2  # as Accelerator(gradient_accumulation_steps=2)
    with pytest.raises(ValueError, match="gradient_accumulation_steps=1.*grad_accum"):
        check_accelerator(accelerator, 8, cpu)
    accelerator.gradient_accumulation_steps = 1
    with pytest.raises(ValueError, match="data must be on accelerator.device"):
        check_accelerator(accelerator, 8, torch.device("meta"))


@pytest.mark.slow
def test_a_recipe_trains_through_an_accelerator_as_without(tmp_path, monkeypatch):
    """The hook of ``ldm-teach train NAME --data-parallel``: with a one-process accelerator,
    ``train_recipe`` writes the same weights as without one."""
    import dataclasses
    import shutil

    from ldm_teach.pretrained import load_state_dict, recipes
    from ldm_teach.pretrained.cards import WEIGHTS_DIR, card_path, weights_path
    from ldm_teach.pretrained.trainers import train_recipe

    tiny = dataclasses.replace(
        recipes.LDM_RECIPES["digits-cmp-f4"], eval_every=1, convergence_steps=2, eval_steps=2
    )
    monkeypatch.setitem(recipes.LDM_RECIPES, "tiny-dp", tiny)
    folders = [tmp_path / "plain", tmp_path / "accelerated"]
    for folder in folders:
        folder.mkdir()
        for path in (weights_path, card_path):
            shutil.copy(path("digits-kl-f4", WEIGHTS_DIR), folder)
    train_recipe("tiny-dp", folders[0], steps=2, progress=False)
    card = train_recipe(
        "tiny-dp", folders[1], steps=2, progress=False, accelerator=Accelerator(cpu=True)
    )
    assert card["convergence"]["step"] == [1, 2]  # the segments resumed from checkpoints
    a, _ = load_state_dict("tiny-dp", folders[0])
    b, _ = load_state_dict("tiny-dp", folders[1])
    assert _max_gap(a, b) == 0.0
    with pytest.raises(ValueError, match="latent diffusion recipes"):
        train_recipe("digits-kl-f4", tmp_path, steps=1, accelerator=Accelerator(cpu=True))
