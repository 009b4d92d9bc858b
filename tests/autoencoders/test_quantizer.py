"""Vector quantiser (ldm_teach.autoencoders.quantizer): nearest code, straight-through
gradient, loss gradients by hand, EMA updates, usage/perplexity, dead-code restarts."""

import math

import pytest
import torch

from ldm_teach.autoencoders.quantizer import VectorQuantizer, perplexity_of_counts


def _vq(codes, **kw) -> VectorQuantizer:
    """A quantiser whose codebook is ``codes`` (K, D)."""
    codes = torch.as_tensor(codes, dtype=torch.float32)
    vq = VectorQuantizer(codes.shape[0], codes.shape[1], **kw)
    with torch.no_grad():
        vq.codebook.copy_(codes)
        if vq.use_ema:
            vq.ema_code_sum.copy_(codes)  # keep e = m / N with N = 1
    return vq


def _line(values) -> torch.Tensor:
    """1-D values as a D=1 latent grid (1, 1, 1, n)."""
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, -1)


# ---- nearest code and straight-through --------------------------------------------------


def test_output_values_are_the_chosen_codes():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 3)
    z_e = torch.randn(2, 3, 4, 5) * 0.2
    z_q, indices, loss, stats = vq(z_e)
    assert indices.shape == (2, 4, 5) and indices.dtype == torch.int64
    assert z_q.shape == z_e.shape
    # values are exactly codebook[indices], laid out (B, D, h, w)
    assert torch.equal(z_q, vq.codebook.detach()[indices].permute(0, 3, 1, 2))
    # and the chosen code is the nearest one, by brute force
    z = z_e.permute(0, 2, 3, 1).reshape(-1, 3)  # (N, D)
    brute = torch.cdist(z, vq.codebook.detach()).argmin(1).view(2, 4, 5)
    assert torch.equal(indices, brute)
    assert loss.ndim == 0 and set(stats) == {"perplexity", "usage", "quantization_error"}


def test_gradient_reaches_encoder_unchanged_through_straight_through():
    torch.manual_seed(1)
    vq = VectorQuantizer(8, 3)
    z_e = (torch.randn(2, 3, 4, 4) * 0.2).requires_grad_()
    z_q = vq(z_e).z_q
    upstream = torch.randn_like(z_q)
    (z_q * upstream).sum().backward()
    assert torch.equal(z_e.grad, upstream)  # d z_q / d z_e = I
    assert vq.codebook.grad is None  # the decoder's gradient never reaches the codebook


def test_lookup_and_nearest_code_are_pure_and_inverse_on_codes():
    vq = _vq([[0.0], [1.0], [2.0], [3.0]])
    idx = torch.tensor([[[3, 0, 2]]])  # (1, 1, 3)
    z = vq.lookup(idx)
    assert torch.equal(z, _line([3.0, 0.0, 2.0]))
    assert torch.equal(vq.nearest_code(z), idx)
    assert int(vq.usage_counts.sum()) == 0  # neither call counts usage


def test_ties_go_to_the_lowest_index():
    vq = _vq([[0.0], [2.0]])
    assert vq.nearest_code(_line([1.0])).item() == 0


# ---- loss and its gradients, by hand ----------------------------------------------------


@pytest.mark.parametrize("beta", [0.25, 1.0])
def test_codebook_and_commitment_gradients_by_hand(beta):
    # D = 1, K = 2, one vector: z_e = 0.5, codes e_0 = 0, e_1 = 2 -> e_0 is chosen.
    #   loss = (sg[z_e] - e_0)^2 + beta (z_e - sg[e_0])^2 = (1 + beta) * 0.25
    #   d loss / d e_0 = -2 (z_e - e_0) = -1,   d loss / d e_1 = 0
    #   d loss / d z_e = 2 beta (z_e - e_0) = beta
    vq = _vq([[0.0], [2.0]], commitment_cost=beta)
    z_e = _line([0.5]).requires_grad_()
    out = vq(z_e)
    assert out.indices.item() == 0
    assert out.loss.item() == pytest.approx((1 + beta) * 0.25)
    out.loss.backward()
    assert torch.allclose(vq.codebook.grad, torch.tensor([[-1.0], [0.0]]))
    assert z_e.grad.item() == pytest.approx(beta)


def test_loss_is_mean_reduced_over_all_elements():
    vq = _vq([[0.0, 0.0], [5.0, 5.0]], commitment_cost=0.25)
    vectors = torch.tensor([[1.0, 2.0], [0.0, -1.0]])  # (N, D), both nearest to code 0
    z_e = vectors.T.reshape(1, 2, 1, 2)  # (B, D, h, w)
    out = vq(z_e)
    sq = (1 + 4 + 0 + 1) / 4  # mean of squared differences to code 0 over B*D*h*w = 4
    assert out.loss.item() == pytest.approx(1.25 * sq)
    assert out.stats["quantization_error"] == pytest.approx(sq)


def test_ema_drops_the_codebook_term_and_the_codebook_gets_no_gradient():
    vq = _vq([[0.0], [2.0]], commitment_cost=0.25, use_ema=True)
    assert not vq.codebook.requires_grad
    z_e = _line([0.5]).requires_grad_()
    out = vq.eval()(z_e)
    assert out.loss.item() == pytest.approx(0.25 * 0.25)  # beta * (z_e - e_0)^2 only
    out.loss.backward()
    assert vq.codebook.grad is None
    assert z_e.grad.item() == pytest.approx(0.25)


# ---- EMA codebook updates ---------------------------------------------------------------


def test_one_ema_step_matches_appendix_a1_by_hand():
    gamma, eps = 0.9, 1e-5
    vq = _vq([[0.0], [10.0], [100.0]], use_ema=True, ema_decay=gamma, ema_eps=eps).train()
    z_e = _line([1.0, 3.0, 9.0])  # 1, 3 -> code 0 (n=2, sum 4); 9 -> code 1 (n=1, sum 9)
    vq(z_e)
    n_i = torch.tensor([2.0, 1.0, 0.0])
    N = gamma * 1.0 + (1 - gamma) * n_i
    m = gamma * torch.tensor([0.0, 10.0, 100.0]) + (1 - gamma) * torch.tensor([4.0, 9.0, 0.0])
    n = N.sum()
    N_smooth = (N + eps) / (n + 3 * eps) * n
    assert torch.allclose(vq.ema_cluster_size, N)
    assert torch.allclose(vq.ema_code_sum.flatten(), m)
    assert torch.allclose(vq.codebook.detach().flatten(), m / N_smooth, rtol=1e-6)


def test_ema_moves_codes_toward_assigned_means_and_converges_there():
    torch.manual_seed(0)
    vq = _vq([[0.0, 0.0], [4.0, 4.0]], use_ema=True, ema_decay=0.8).train()
    a = torch.randn(20, 2) * 0.3 + torch.tensor([1.0, 0.5])  # all nearest to code 0
    b = torch.randn(12, 2) * 0.3 + torch.tensor([3.0, 3.5])  # all nearest to code 1
    z_e = torch.cat([a, b]).T.reshape(1, 2, 1, 32)  # (1, D, 1, N)
    means = torch.stack([a.mean(0), b.mean(0)])
    before = (vq.codebook.detach() - means).norm(dim=1)
    vq(z_e)
    after = (vq.codebook.detach() - means).norm(dim=1)
    assert (after < before).all()
    for _ in range(100):
        vq(z_e)
    assert torch.allclose(vq.codebook.detach(), means, atol=1e-4)  # the K-means fixed point


def test_ema_does_not_update_in_eval_mode():
    vq = _vq([[0.0], [10.0]], use_ema=True).eval()
    vq(_line([3.0, 4.0]))
    assert torch.equal(vq.codebook.detach(), torch.tensor([[0.0], [10.0]]))


# ---- usage and perplexity ---------------------------------------------------------------


def test_perplexity_is_one_for_a_single_code_and_k_for_uniform_use():
    vq = _vq([[0.0], [1.0], [2.0], [3.0]])
    out = vq(_line([0.1] * 8))  # every position picks code 0
    assert out.stats["perplexity"] == pytest.approx(1.0)
    assert vq.perplexity() == pytest.approx(1.0)
    assert vq.usage() == pytest.approx(0.25)

    vq.reset_usage()
    out = vq(_line([0.0, 1.0, 2.0, 3.0] * 2))  # each code twice
    assert out.stats["perplexity"] == pytest.approx(4.0)
    assert out.stats["usage"] == pytest.approx(1.0)
    assert vq.perplexity() == pytest.approx(4.0)


def test_perplexity_of_counts_is_exp_entropy():
    p = torch.tensor([0.25, 0.75])
    expected = math.exp(-float((p * p.log()).sum()))
    assert perplexity_of_counts(torch.tensor([1, 3, 0])) == pytest.approx(expected)
    assert perplexity_of_counts(torch.zeros(5)) == 0.0


def test_usage_accumulates_across_batches_and_resets():
    vq = _vq([[0.0], [1.0], [2.0], [3.0]])
    assert vq.usage() == 0.0 and vq.perplexity() == 0.0
    first = vq(_line([0.0, 0.0, 0.0]))  # code 0, three times
    second = vq(_line([2.0]))  # code 2, once
    assert first.stats["perplexity"] == pytest.approx(1.0)
    assert second.stats["perplexity"] == pytest.approx(1.0)
    assert vq.usage_counts.tolist() == [3, 0, 1, 0]
    assert vq.usage() == pytest.approx(0.5)
    assert vq.perplexity() == pytest.approx(perplexity_of_counts(torch.tensor([3, 1])))
    vq.reset_usage()
    assert vq.usage() == 0.0 and vq.usage_counts.tolist() == [0, 0, 0, 0]


# ---- dead-code restarts -----------------------------------------------------------------


def test_dead_code_restart_moves_unused_codes_onto_encoder_outputs():
    codes = [[0.0, 0.0], [50.0, 50.0], [60.0, 60.0], [70.0, 70.0]]
    vq = _vq(codes)
    vq(torch.zeros(1, 2, 2, 2))  # only code 0 is used
    samples = torch.randn(1, 2, 3, 3)  # (B, D, h, w): 9 encoder outputs
    n = vq.restart_dead_codes(samples, torch.Generator().manual_seed(0))
    assert n == 3
    rows = samples.permute(0, 2, 3, 1).reshape(-1, 2)  # (9, D)
    new = vq.codebook.detach()
    assert torch.equal(new[0], torch.zeros(2))  # the used code stays
    matches = [(rows == new[k]).all(1).nonzero().flatten().tolist() for k in (1, 2, 3)]
    assert all(len(m) == 1 for m in matches)  # each restarted code is one of the outputs
    assert len({m[0] for m in matches}) == 3  # drawn without replacement
    # the restarted codes now get chosen
    assert vq.nearest_code(samples).unique().numel() > 1

    again = _vq(codes)
    again(torch.zeros(1, 2, 2, 2))
    again.restart_dead_codes(samples, torch.Generator().manual_seed(0))
    assert torch.equal(again.codebook, vq.codebook)  # deterministic given the generator


def test_restart_with_fewer_samples_than_dead_codes_and_ema_state():
    vq = _vq([[0.0], [5.0], [6.0], [7.0]], use_ema=True)
    vq.eval()(_line([0.0]))
    n = vq.restart_dead_codes(torch.tensor([[1.5]]), torch.Generator().manual_seed(0))  # (N, D)
    assert n == 3
    assert vq.codebook.detach().flatten().tolist() == [0.0, 1.5, 1.5, 1.5]
    assert vq.ema_cluster_size[1:].tolist() == [1.0, 1.0, 1.0]
    assert torch.equal(vq.ema_code_sum[1:], vq.codebook.detach()[1:])  # e = m / N still holds


def test_restart_respects_threshold_and_returns_zero_when_all_alive():
    vq = _vq([[0.0], [1.0]], dead_code_threshold=2.0)
    vq(_line([0.0, 0.0, 1.0]))  # counts [2, 1]: code 1 is below 2
    assert vq.restart_dead_codes(_line([9.0]), torch.Generator().manual_seed(0)) == 1
    assert vq.codebook.detach().flatten().tolist() == [0.0, 9.0]
    vq.reset_usage()
    vq(_line([0.0, 0.0, 9.0, 9.0]))
    assert vq.restart_dead_codes(_line([5.0])) == 0


# ---- state and errors -------------------------------------------------------------------


def test_state_dict_keys():
    assert set(VectorQuantizer(4, 2).state_dict()) == {"codebook"}
    assert set(VectorQuantizer(4, 2, use_ema=True).state_dict()) == {
        "codebook",
        "ema_cluster_size",
        "ema_code_sum",
    }


@pytest.mark.parametrize(
    "kw,name",
    [
        (dict(num_codes=1), "num_codes"),
        (dict(code_dim=0), "code_dim"),
        (dict(commitment_cost=-0.1), "commitment_cost"),
        (dict(ema_decay=1.0), "ema_decay"),
        (dict(ema_decay=-0.1), "ema_decay"),
        (dict(dead_code_threshold=-1.0), "dead_code_threshold"),
        (dict(ema_eps=0.0), "ema_eps"),
    ],
)
def test_bad_arguments_raise(kw, name):
    args = dict(num_codes=4, code_dim=2)
    args.update(kw)
    with pytest.raises(ValueError, match=name):
        VectorQuantizer(**args)


def test_bad_inputs_raise():
    vq = VectorQuantizer(4, 2)
    with pytest.raises(ValueError, match="z_e must have shape"):
        vq(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match="z_e must have shape"):
        vq(torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"in \[0, 3\]"):
        vq.lookup(torch.tensor([[[4]]]))
    with pytest.raises(ValueError, match="integer"):
        vq.lookup(torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="z_e_samples"):
        vq.restart_dead_codes(torch.zeros(5, 3))


@pytest.mark.parametrize(
    "z_e, match",
    [
        (torch.full((1, 2, 2, 2), float("nan")), "z_e must be finite"),
        (torch.tensor([float("inf"), 0.0]).view(1, 2, 1, 1), "z_e must be finite"),
        (torch.zeros(0, 2, 2, 2), "z_e must be non-empty"),
        (torch.zeros(1, 2, 2, 2, dtype=torch.int64), "z_e must be a floating-point tensor"),
    ],
)
def test_non_finite_empty_and_integer_latents_are_refused(z_e, match):
    vq = VectorQuantizer(4, 2)
    for fn in (vq, vq.nearest_code):
        with pytest.raises(ValueError, match=match):
            fn(z_e)
    assert vq.usage_counts.sum() == 0  # nothing was counted


def test_restart_refuses_non_finite_samples():
    vq = VectorQuantizer(4, 2)
    with pytest.raises(ValueError, match="z_e_samples must be finite"):
        vq.restart_dead_codes(torch.full((5, 2), float("nan")))
