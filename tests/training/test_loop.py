"""The training loop (ldm_teach.training.loop)."""

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from ldm_teach.training.checkpoint import load_tensors
from ldm_teach.training.loop import CHECKPOINT_NAME, TrainConfig, losses_summary, train


def _regression_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3  # (n, 1)
    return x, y


def _mse(model, batch, gen):
    x, y = batch
    return (model(x) - y).pow(2).mean()


def _noisy_mse(model, batch, gen):
    """Uses the generator, so exact resume must restore the loss's randomness too."""
    x, y = batch
    x = x + 0.1 * torch.randn(x.shape, generator=gen)
    return (model(x) - y).pow(2).mean()


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))


class _Hooks:
    """Record, around every optimizer step, the grads / lr before and params after."""

    def __init__(self):
        self.grads, self.lrs, self.params = [], [], []

    def __enter__(self):
        def pre(opt, args, kwargs):
            self.lrs.append(opt.param_groups[0]["lr"])
            self.grads.append(
                [p.grad.detach().clone() for g in opt.param_groups for p in g["params"]]
            )

        def post(opt, args, kwargs):
            self.params.append([p.detach().clone() for g in opt.param_groups for p in g["params"]])

        self._handles = [
            register_optimizer_step_pre_hook(pre),
            register_optimizer_step_post_hook(post),
        ]
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()


# ---- learning ---------------------------------------------------------------------------


def test_loss_decreases_on_tiny_regression():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    cfg = TrainConfig(steps=150, batch_size=16, lr=5e-2, warmup_steps=5, ema_decay=None)
    result = train(model, _mse, _regression_data(), cfg, progress=False)
    assert len(result.losses) == 150 and result.step == 150
    assert all(math.isfinite(v) for v in result.losses)
    assert sum(result.losses[-10:]) / 10 < 0.01 * sum(result.losses[:10]) / 10
    assert result.model is model and not model.training  # returned in eval mode
    assert result.ema_model is None


def test_reported_loss_is_mean_of_micro_batch_losses():
    seen = []

    def loss_fn(model, batch, gen):
        loss = _mse(model, batch, gen)
        seen.append(loss.item())
        return loss

    cfg = TrainConfig(steps=4, batch_size=8, grad_accum=3, warmup_steps=0, ema_decay=None)
    result = train(_mlp(), loss_fn, _regression_data(), cfg, progress=False)
    assert len(seen) == 12
    for s in range(4):
        assert result.losses[s] == pytest.approx(sum(seen[3 * s : 3 * s + 3]) / 3, rel=1e-6)


def test_grad_accum_gives_the_mean_gradient_of_its_micro_batches():
    batches = []

    def loss_fn(model, batch, gen):
        batches.append(batch)
        return _mse(model, batch, gen)

    model = _mlp()
    ref = _mlp()  # same initial weights
    cfg = TrainConfig(steps=1, batch_size=8, grad_accum=2, grad_clip=None, ema_decay=None)
    with _Hooks() as hooks:
        train(model, loss_fn, _regression_data(), cfg, progress=False)
    assert len(batches) == 2 and len(hooks.grads) == 1
    # the gradient of the mean loss over both micro-batches, by hand
    loss = sum(_mse(ref, b, None) for b in batches) / 2
    loss.backward()
    for got, p in zip(hooks.grads[0], ref.parameters(), strict=True):
        assert torch.allclose(got, p.grad, atol=1e-6)


def test_gradient_is_clipped_to_grad_clip():
    cfg = TrainConfig(steps=3, batch_size=8, grad_clip=1e-3, warmup_steps=0, ema_decay=None)
    with _Hooks() as hooks:
        train(_mlp(), _mse, _regression_data(), cfg, progress=False)
    for grads in hooks.grads:
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        assert norm.item() == pytest.approx(1e-3, rel=1e-4)


def test_linear_warmup_of_the_learning_rate():
    cfg = TrainConfig(steps=6, batch_size=4, lr=1e-2, warmup_steps=4, ema_decay=None)
    with _Hooks() as hooks:
        train(_mlp(), _mse, _regression_data(), cfg, progress=False)
    assert hooks.lrs == pytest.approx([2.5e-3, 5e-3, 7.5e-3, 1e-2, 1e-2, 1e-2])


def test_bf16_autocast_runs_with_finite_losses():
    cfg = TrainConfig(steps=3, batch_size=8, bf16_autocast=True, ema_decay=0.9)
    result = train(_mlp(), _mse, _regression_data(), cfg, progress=False)
    assert all(math.isfinite(v) for v in result.losses)
    assert all(p.dtype == torch.float32 for p in result.model.parameters())


# ---- EMA --------------------------------------------------------------------------------


class _Scalar(nn.Module):
    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(0.0))


def test_ema_matches_manual_ema_on_one_parameter():
    decay = 0.8

    def loss_fn(model, batch, gen):
        return (model.p - batch[0].mean()).pow(2)

    model = _Scalar()
    cfg = TrainConfig(
        steps=8, batch_size=2, lr=0.1, warmup_steps=0, grad_clip=None, ema_decay=decay
    )
    with _Hooks() as hooks:
        result = train(model, loss_fn, (torch.full((4,), 3.0),), cfg, progress=False)
    values = [ps[0].item() for ps in hooks.params]  # p after each optimizer step
    # AveragedModel semantics: the first update copies, then ema = d * ema + (1 - d) * p
    ema = values[0]
    for v in values[1:]:
        ema = decay * ema + (1 - decay) * v
    assert result.ema_model.p.item() == pytest.approx(ema, rel=1e-6)
    assert result.model.p.item() == pytest.approx(values[-1], rel=1e-7)
    assert result.ema_model.p.item() != pytest.approx(result.model.p.item(), rel=1e-3)
    assert result.ema_model is not result.model


def _ema_run(decay, warmup, steps=8):
    def loss_fn(model, batch, gen):
        return (model.p - batch[0].mean()).pow(2)

    cfg = TrainConfig(
        steps=steps,
        batch_size=2,
        lr=0.1,
        warmup_steps=0,
        grad_clip=None,
        ema_decay=decay,
        ema_warmup=warmup,
    )
    with _Hooks() as hooks:
        result = train(_Scalar(), loss_fn, (torch.full((4,), 3.0),), cfg, progress=False)
    return result, [ps[0].item() for ps in hooks.params]


def test_ema_warmup_follows_min_decay_one_plus_t_over_ten_plus_t():
    decay = 0.3  # the warm-up decay (1 + t) / (10 + t) passes 0.3 at t = 3
    ema_values = []
    for steps in range(1, 9):
        result, values = _ema_run(decay, warmup=True, steps=steps)
        ema_values.append(result.ema_model.p.item())
    # closed form: update 0 copies, update t >= 1 uses d_t = min(decay, (1 + t) / (10 + t))
    ema = values[0]
    assert ema_values[0] == pytest.approx(ema, rel=1e-6)
    for t, v in enumerate(values[1:], start=1):
        d = min(decay, (1 + t) / (10 + t))
        ema = d * ema + (1 - d) * v
        assert ema_values[t] == pytest.approx(ema, rel=1e-6), t
    assert [min(decay, (1 + t) / (10 + t)) for t in (1, 2, 3)] == [2 / 11, 3 / 12, 0.3]
    # and its second update differs from the constant decay's, which the default keeps
    constant, _ = _ema_run(decay, warmup=False, steps=2)
    assert constant.ema_model.p.item() != pytest.approx(ema_values[1], rel=1e-3)


def test_ema_without_warmup_is_unchanged_by_default():
    assert TrainConfig(steps=1).ema_warmup is False
    decay = 0.3
    result, values = _ema_run(decay, warmup=False)
    ema = values[0]
    for v in values[1:]:
        ema = decay * ema + (1 - decay) * v
    assert result.ema_model.p.item() == pytest.approx(ema, rel=1e-6)


def test_resume_with_ema_warmup_equals_uninterrupted_run(tmp_path):
    def cfg(steps):
        return TrainConfig(
            steps=steps,
            batch_size=8,
            lr=1e-2,
            warmup_steps=0,
            ema_decay=0.9,
            ema_warmup=True,
            checkpoint_every=5,
            seed=3,
        )

    data = _regression_data()
    full = train(_mlp(0), _mse, data, cfg(10), progress=False)
    train(_mlp(0), _mse, data, cfg(5), checkpoint_dir=tmp_path, progress=False)
    resumed = train(
        _mlp(1), _mse, data, cfg(10), checkpoint_dir=tmp_path, resume=True, progress=False
    )
    ref_sd = full.ema_model.state_dict()
    for k, v in resumed.ema_model.state_dict().items():
        assert torch.equal(v, ref_sd[k]), k


# ---- checkpoints and resume -------------------------------------------------------------


def _resume_cfg(steps):
    return TrainConfig(
        steps=steps,
        batch_size=8,
        lr=1e-2,
        warmup_steps=3,
        grad_accum=2,
        ema_decay=0.9,
        checkpoint_every=5,
        seed=3,
    )


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    data = _regression_data()
    full = train(
        _mlp(0), _noisy_mse, data, _resume_cfg(20), checkpoint_dir=tmp_path / "full", progress=False
    )

    first = train(
        _mlp(0), _noisy_mse, data, _resume_cfg(10), checkpoint_dir=tmp_path / "run", progress=False
    )
    assert first.losses == full.losses[:10]
    # a different initialisation proves the weights come from the checkpoint
    resumed = train(
        _mlp(99),
        _noisy_mse,
        data,
        _resume_cfg(20),
        checkpoint_dir=tmp_path / "run",
        resume=True,
        progress=False,
    )

    assert resumed.step == 20
    assert resumed.losses == full.losses
    for ours, ref in ((resumed.model, full.model), (resumed.ema_model, full.ema_model)):
        ref_sd = ref.state_dict()
        for k, v in ours.state_dict().items():
            assert torch.equal(v, ref_sd[k]), k


def test_checkpoint_contents(tmp_path):
    cfg = TrainConfig(steps=7, batch_size=4, checkpoint_every=5, ema_decay=0.9)
    result = train(
        _mlp(),
        _mse,
        _regression_data(),
        cfg,
        checkpoint_dir=tmp_path,
        progress=False,
        extra_metadata={"unet": {"base_channels": 16}},
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME]  # no temp files
    tensors, meta = load_tensors(tmp_path / CHECKPOINT_NAME)
    assert meta["step"] == 7
    assert meta["losses"] == pytest.approx(result.losses)
    assert meta["extra"] == {"unet": {"base_channels": 16}}
    assert meta["train_config"]["steps"] == 7
    for k, v in result.model.state_dict().items():
        assert torch.equal(tensors[f"model.{k}"], v)
    assert any(k.startswith("ema.") for k in tensors)
    assert any(k.startswith("optim.") for k in tensors)
    json.dumps(meta)  # metadata is plain JSON


def test_existing_checkpoint_without_resume_raises(tmp_path):
    cfg = TrainConfig(steps=2, batch_size=4, ema_decay=None)
    train(_mlp(), _mse, _regression_data(), cfg, checkpoint_dir=tmp_path, progress=False)
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()
    with pytest.raises(FileExistsError, match="resume=True"):
        train(_mlp(), _mse, _regression_data(), cfg, checkpoint_dir=tmp_path, progress=False)
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    cfg = TrainConfig(steps=3, batch_size=4, ema_decay=None)
    a = train(
        _mlp(), _mse, _regression_data(), cfg, checkpoint_dir=tmp_path, resume=True, progress=False
    )
    b = train(_mlp(), _mse, _regression_data(), cfg, progress=False)
    assert a.losses == b.losses and len(a.losses) == 3


def test_resume_from_checkpoint_beyond_steps_raises(tmp_path):
    train(
        _mlp(),
        _mse,
        _regression_data(),
        TrainConfig(steps=4, batch_size=4, ema_decay=None),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    with pytest.raises(ValueError, match="beyond config.steps"):
        train(
            _mlp(),
            _mse,
            _regression_data(),
            TrainConfig(steps=2, batch_size=4, ema_decay=None),
            checkpoint_dir=tmp_path,
            resume=True,
            progress=False,
        )


@pytest.mark.parametrize("change", [dict(batch_size=8), dict(lr=1e-3), dict(seed=3)])
def test_resume_with_a_different_config_is_refused(tmp_path, change):
    base = dict(steps=4, batch_size=4, ema_decay=None)
    train(
        _mlp(),
        _mse,
        _regression_data(),
        TrainConfig(**base),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    ((name, value),) = change.items()
    with pytest.raises(ValueError, match=f"different TrainConfig: {name}={value!r}"):
        train(
            _mlp(),
            _mse,
            _regression_data(),
            TrainConfig(**{**base, "steps": 6, **change}),
            checkpoint_dir=tmp_path,
            resume=True,
            progress=False,
        )


def test_non_finite_loss_is_refused_at_its_step():
    x, y = _regression_data()
    x[5:] = float("nan")  # NaN data used to train a NaN model silently
    model = _mlp()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match="the loss is nan at step 0"):
        train(model, _mse, (x, y), TrainConfig(steps=3, batch_size=16), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


# ---- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(steps=0), "steps"),
        (dict(batch_size=0), "batch_size"),
        (dict(grad_accum=0), "grad_accum"),
        (dict(lr=0.0), "lr"),
        (dict(lr=-1e-3), "lr"),
        (dict(warmup_steps=-1), "warmup_steps"),
        (dict(checkpoint_every=-1), "checkpoint_every"),
        (dict(seed=-1), "seed"),
        (dict(ema_decay=1.0), "ema_decay"),
        (dict(ema_decay=0.0), "ema_decay"),
        (dict(ema_decay=float("nan")), "ema_decay"),
        (dict(ema_decay=float("inf")), "ema_decay"),
        (dict(ema_warmup=1), "ema_warmup"),
        (dict(ema_decay=None, ema_warmup=True), "ema_warmup"),
        (dict(grad_clip=0.0), "grad_clip"),
        # accepted before, then a raw TypeError (or silently wrong) in train
        (dict(steps=2.5), "steps must be an int"),
        (dict(batch_size=1.5), "batch_size must be an int"),
        (dict(checkpoint_every=0.5), "checkpoint_every must be an int"),
        (dict(bf16_autocast="no"), "bf16_autocast must be a bool"),  # "no" turned bf16 on
        (dict(lr=float("inf")), "lr must be a finite number"),
        (dict(weight_decay=-1.0), "weight_decay must be >= 0"),
        (dict(weight_decay=float("nan")), "weight_decay must be a finite number"),
    ],
)
def test_train_config_validation(kw, match):
    base = dict(steps=10)
    base.update(kw)
    with pytest.raises(ValueError, match=match):
        TrainConfig(**base)


@pytest.mark.parametrize(
    "data",
    [
        (),
        (torch.zeros(4, 3), torch.zeros(5, 1)),
        (torch.zeros(0, 3),),
    ],
)
def test_bad_data_raises(data):
    with pytest.raises(ValueError, match="data"):
        train(_mlp(), _mse, data, TrainConfig(steps=1), progress=False)


def test_losses_summary():
    assert json.loads(losses_summary([])) == {"steps": 0}
    s = json.loads(losses_summary([4.0, 3.0, 2.0, 1.0], window=2))
    assert s == {"steps": 4, "first": 3.5, "last": 1.5}
    assert json.loads(losses_summary([2.0], window=50)) == {"steps": 1, "first": 2.0, "last": 2.0}


# --- progressive training: stages switch the data at given steps --------------------------


def test_stages_switch_the_data_at_their_start_step():
    first = _regression_data(32, seed=0)
    second = _regression_data(48, seed=1)
    seen = []

    def record(model, batch, gen):
        seen.append(batch[0].shape[0])
        x, y = batch
        # tag which data set the batch came from: every row of ``second`` is in second[0]
        seen[-1] = bool((batch[0][:, None, :] == second[0][None]).all(-1).any(-1).all())
        return (model(x) - y).pow(2).mean()

    cfg = TrainConfig(steps=6, batch_size=4, ema_decay=None, warmup_steps=0)
    train(_mlp(), record, first, cfg, progress=False, stages=[(4, second)])
    assert seen == [False] * 4 + [True] * 2


def test_stages_with_equal_data_change_nothing():
    data = _regression_data()
    cfg = TrainConfig(steps=8, batch_size=8, ema_decay=None)
    a = train(_mlp(), _noisy_mse, data, cfg, progress=False)
    b = train(_mlp(), _noisy_mse, data, cfg, progress=False, stages=[(3, data), (5, data)])
    assert a.losses == b.losses


def test_stages_resume_in_the_right_stage(tmp_path):
    first, second = _regression_data(32, 0), _regression_data(32, 1)
    cfg = TrainConfig(steps=8, batch_size=8, ema_decay=0.9)
    straight = train(_mlp(), _noisy_mse, first, cfg, progress=False, stages=[(4, second)])
    part = TrainConfig(steps=6, batch_size=8, ema_decay=0.9)
    train(
        _mlp(),
        _noisy_mse,
        first,
        part,
        checkpoint_dir=tmp_path,
        progress=False,
        stages=[(4, second)],
    )
    resumed = train(
        _mlp(),
        _noisy_mse,
        first,
        cfg,
        checkpoint_dir=tmp_path,
        resume=True,
        progress=False,
        stages=[(4, second)],
    )
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize(
    "stages, error, match",
    [
        ([(0, None)], ValueError, "start steps"),
        ([(8, None)], ValueError, "start steps"),
        ([(4, None), (3, None)], ValueError, "start steps"),
        ([(2.5, None)], ValueError, "start steps"),
        ([(2, ())], ValueError, "stage starting at step 2"),
        ([(2, (torch.zeros(3, 1), torch.zeros(4, 1)))], ValueError, "stage starting at step 2"),
        ([(2, (torch.zeros(5, 3),))], ValueError, "has 1 tensors; data has 2"),
        ([(2, (torch.zeros(5, 3, dtype=torch.float64), torch.zeros(5, 1)))], ValueError, "float64"),
        ([(2, (torch.zeros(5, 3, 1), torch.zeros(5, 1)))], ValueError, "3 dims"),
        ([(2, torch.zeros(5, 3))], TypeError, "tuple of tensors"),
        ([(2, (torch.tensor(1.0), torch.tensor(1.0)))], ValueError, "non-empty"),
        ((2, (torch.zeros(5, 3), torch.zeros(5, 1))), TypeError, "pair"),
        ({2: (torch.zeros(5, 3), torch.zeros(5, 1))}, TypeError, "sequence of"),
        ([(2, (torch.zeros(5, 3), torch.zeros(5, 1)), 1)], TypeError, "pair"),
        (None, TypeError, "sequence of"),
    ],
)
def test_bad_stages_are_refused(stages, error, match):
    cfg = TrainConfig(steps=8, batch_size=4)
    with pytest.raises(error, match=match):
        train(_mlp(), _mse, _regression_data(), cfg, progress=False, stages=stages)


def test_stages_may_be_a_generator():
    first = _regression_data(32, seed=0)
    second = _regression_data(48, seed=1)
    cfg = TrainConfig(steps=6, batch_size=4, ema_decay=None, warmup_steps=0)
    a = train(_mlp(), _mse, first, cfg, progress=False, stages=[(4, second)])
    b = train(_mlp(), _mse, first, cfg, progress=False, stages=((s, second) for s in [4]))
    assert a.losses == b.losses


def test_checkpoint_dir_is_checked_before_training_and_a_refused_resume_leaves_the_model(tmp_path):
    # found by the third bad-input pass: "" wrote ./checkpoint.safetensors; a file as
    # checkpoint_dir failed after the last step; a refused resume had loaded the weights
    import torch

    from ldm_teach.training import TrainConfig, train

    def loss_fn(m, batch, g):
        return m(batch[0]).pow(2).mean()

    data = (torch.randn(8, 2),)
    with pytest.raises(ValueError, match="checkpoint_dir must be a folder name"):
        train(
            torch.nn.Linear(2, 1),
            loss_fn,
            data,
            TrainConfig(steps=1, batch_size=2),
            checkpoint_dir="",
            progress=False,
        )
    (tmp_path / "afile").write_text("mine")
    calls = []

    def counting(m, batch, g):
        calls.append(1)
        return loss_fn(m, batch, g)

    with pytest.raises(NotADirectoryError):
        train(
            torch.nn.Linear(2, 1),
            counting,
            data,
            TrainConfig(steps=5, batch_size=2),
            checkpoint_dir=tmp_path / "afile",
            progress=False,
        )
    assert calls == [] and (tmp_path / "afile").read_text() == "mine"
    torch.manual_seed(0)
    train(
        torch.nn.Linear(2, 1),
        loss_fn,
        data,
        TrainConfig(steps=3, batch_size=2),
        checkpoint_dir=tmp_path / "ck",
        progress=False,
    )
    model = torch.nn.Linear(2, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="beyond config.steps=1"):
        train(
            model,
            loss_fn,
            data,
            TrainConfig(steps=1, batch_size=2),
            checkpoint_dir=tmp_path / "ck",
            resume=True,
            progress=False,
        )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_train_names_what_is_wrong_with_its_arguments():
    # found by the third bad-input pass: torch/Python errors from deep inside train()
    import torch

    from ldm_teach.training import TrainConfig, train

    model = torch.nn.Linear(2, 1)
    cfg = TrainConfig(steps=1, batch_size=2)
    data = (torch.randn(4, 2),)

    def loss_fn(m, batch, g):
        return m(batch[0]).pow(2).mean()

    cases = [
        (dict(data=data[0]), TypeError, "got one tensor: pass"),
        (dict(data=(torch.tensor(1.0),)), ValueError, "non-empty tuple of tensors"),
        (dict(config={"steps": 1}), TypeError, "config must be a TrainConfig, got dict"),
        (dict(loss_fn=lambda m, b, g: 1.0), TypeError, "must return a tensor, got float"),
        (dict(loss_fn=lambda m, b, g: m(b[0])), ValueError, r"scalar.*got shape \(2, 1\)"),
        (
            dict(loss_fn=lambda m, b, g: m(b[0]).mean().detach()),
            ValueError,
            "does not require a gradient",
        ),
    ]
    for change, error, message in cases:
        kw = {"model": model, "loss_fn": loss_fn, "data": data, "config": cfg, **change}
        with pytest.raises(error, match=message):
            train(kw["model"], kw["loss_fn"], kw["data"], kw["config"], progress=False)
    with pytest.raises(ValueError, match=r"seed must be at most 2\*\*63 - 1"):
        TrainConfig(steps=1, seed=2**64)


@pytest.mark.parametrize(
    "extra, error",
    [
        ({"path": Path("x")}, ValueError),
        ({"x": float("nan")}, ValueError),
        ({1: {"x": object()}}, ValueError),
        ([("a", 1)], TypeError),
    ],
)
def test_non_json_extra_metadata_is_refused_before_step_one(tmp_path, extra, error):
    calls = []

    def loss(model, batch, generator):
        calls.append(1)
        return _mse(model, batch, generator)

    with pytest.raises(error, match="extra_metadata"):
        train(
            _mlp(),
            loss,
            _regression_data(),
            TrainConfig(steps=3, batch_size=4),
            checkpoint_dir=tmp_path,
            progress=False,
            extra_metadata=extra,
        )
    assert calls == [] and list(tmp_path.iterdir()) == []


def test_resume_with_other_data_or_metadata_is_refused(tmp_path):
    data = _regression_data()
    cfg = TrainConfig(steps=4, batch_size=4, checkpoint_every=2)
    train(
        _mlp(), _mse, data, cfg, checkpoint_dir=tmp_path, progress=False, extra_metadata={"unet": 1}
    )
    longer = TrainConfig(steps=6, batch_size=4, checkpoint_every=2)
    other = tuple(d.clone() for d in data)
    other[0][0] += 1.0
    with pytest.raises(ValueError, match="other data"):
        train(
            _mlp(),
            _mse,
            other,
            longer,
            checkpoint_dir=tmp_path,
            resume=True,
            progress=False,
            extra_metadata={"unet": 1},
        )
    with pytest.raises(ValueError, match="different extra_metadata"):
        train(
            _mlp(),
            _mse,
            data,
            longer,
            checkpoint_dir=tmp_path,
            resume=True,
            progress=False,
            extra_metadata={"unet": 2},
        )
    resumed = train(
        _mlp(),
        _mse,
        data,
        longer,
        checkpoint_dir=tmp_path,
        resume=True,
        progress=False,
        extra_metadata={"unet": 1},
    )
    assert resumed.step == 6
