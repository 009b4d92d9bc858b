"""Registry of shipped checkpoints (ldm_teach.pretrained.registry).

Every test writes its own tiny checkpoints to tmp_path; the package's weights folder is
neither read nor written.
"""

import json

import pytest
import torch

from ldm_teach.autoencoders import AutoencoderKL, AutoencoderKLConfig
from ldm_teach.pretrained import registry
from ldm_teach.pretrained.registry import (
    ChecksumError,
    available,
    load_autoencoder,
    load_card,
    load_latent_diffusion,
    load_state_dict,
    save_pretrained,
)
from ldm_teach.training.checkpoint import load_tensors, sha256_file

AE_CFG = AutoencoderKLConfig(in_channels=1, base_channels=16, channel_mult=(1, 2),
                             latent_channels=2, norm_groups=8)


@pytest.fixture
def autoencoder() -> AutoencoderKL:
    torch.manual_seed(0)
    model = AutoencoderKL(AE_CFG).eval()
    with torch.no_grad():  # values with more precision than fp16 keeps
        for p in model.parameters():
            p.add_(1e-3 * torch.randn_like(p))
    return model


def _save_ae(model, folder, name="tiny-ae", **kw):
    card = {"kind": "autoencoder_kl", "config": AE_CFG.to_dict(), "steps": 0}
    return save_pretrained(model, name, card, folder, **kw)


def test_save_pretrained_writes_fp16_weights_and_card(tmp_path, autoencoder):
    wpath = _save_ae(autoencoder, tmp_path)
    assert wpath == tmp_path / "tiny-ae.safetensors"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-ae.json", "tiny-ae.safetensors"]
    tensors, meta = load_tensors(wpath)
    assert meta == {"name": "tiny-ae"}
    assert tensors.keys() == autoencoder.state_dict().keys()
    assert all(v.dtype == torch.float16 for v in tensors.values())
    card = json.loads((tmp_path / "tiny-ae.json").read_text())
    assert card["sha256"] == sha256_file(wpath)
    assert (card["name"], card["dtype"], card["kind"], card["steps"]) == (
        "tiny-ae", "float16", "autoencoder_kl", 0)
    assert load_card("tiny-ae", tmp_path) == card


def test_load_state_dict_returns_float32_rounded_weights(tmp_path, autoencoder):
    _save_ae(autoencoder, tmp_path)
    tensors, card = load_state_dict("tiny-ae", tmp_path)
    assert card["kind"] == "autoencoder_kl"
    for k, v in autoencoder.state_dict().items():
        assert tensors[k].dtype == torch.float32
        assert torch.equal(tensors[k], v.half().float())


def test_non_float_tensors_are_kept(tmp_path):
    module = torch.nn.Module()
    module.register_buffer("counts", torch.arange(4))
    save_pretrained(module, "ints", {"kind": "other"}, tmp_path)
    tensors, _ = load_state_dict("ints", tmp_path)
    assert tensors["counts"].dtype == torch.int64
    assert torch.equal(tensors["counts"], torch.arange(4))


def test_corrupted_weights_raise_checksum_error(tmp_path, autoencoder):
    wpath = _save_ae(autoencoder, tmp_path)
    data = bytearray(wpath.read_bytes())
    data[-3] ^= 0xFF  # flip bits in the last tensor's bytes
    wpath.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="SHA-256"):
        load_state_dict("tiny-ae", tmp_path)
    with pytest.raises(ChecksumError):
        load_autoencoder("tiny-ae", tmp_path)
    tensors, _ = load_state_dict("tiny-ae", tmp_path, verify=False)  # opt-out still loads
    assert tensors.keys() == autoencoder.state_dict().keys()


def test_existing_checkpoint_needs_overwrite(tmp_path, autoencoder):
    first = _save_ae(autoencoder, tmp_path)
    sha_before = load_card("tiny-ae", tmp_path)["sha256"]
    with torch.no_grad():
        autoencoder.post_quant_conv.bias.add_(1.0)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _save_ae(autoencoder, tmp_path)
    assert load_card("tiny-ae", tmp_path)["sha256"] == sha_before
    _save_ae(autoencoder, tmp_path, overwrite=True)
    card = load_card("tiny-ae", tmp_path)
    assert card["sha256"] != sha_before and card["sha256"] == sha256_file(first)


def test_missing_card_names_the_train_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="ldm-teach train nope"):
        load_card("nope", tmp_path)
    with pytest.raises(FileNotFoundError, match="ldm-teach train"):
        load_state_dict("nope", tmp_path)


def test_card_without_weights_raises(tmp_path, autoencoder):
    wpath = _save_ae(autoencoder, tmp_path)
    wpath.unlink()
    with pytest.raises(FileNotFoundError, match="weights file"):
        load_state_dict("tiny-ae", tmp_path)


def test_available_lists_complete_checkpoints(tmp_path, autoencoder):
    assert available(tmp_path) == []
    _save_ae(autoencoder, tmp_path, name="b")
    _save_ae(autoencoder, tmp_path, name="a")
    (tmp_path / "orphan.json").write_text("{}")  # a card without weights
    assert available(tmp_path) == ["a", "b"]


def test_paths_default_to_the_package_folder():
    assert registry.card_path("x") == registry.WEIGHTS_DIR / "x.json"
    assert registry.weights_path("x") == registry.WEIGHTS_DIR / "x.safetensors"
    assert set(registry.REGISTRY) >= {"digits-kl-f4", "digits-ldm"}


def test_load_autoencoder_round_trip(tmp_path, autoencoder):
    _save_ae(autoencoder, tmp_path)
    loaded = load_autoencoder("tiny-ae", tmp_path)
    assert isinstance(loaded, AutoencoderKL) and not loaded.training
    assert loaded.config == AE_CFG
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        ours = loaded.decode(loaded.encode(x).mode())
        ref = autoencoder.decode(autoencoder.encode(x).mode())
        rounded = AutoencoderKL(AE_CFG).eval()
        rounded.load_state_dict({k: v.half().float() for k, v in
                                 autoencoder.state_dict().items()})
        ref_rounded = rounded.decode(rounded.encode(x).mode())
    assert torch.allclose(ours, ref_rounded, atol=1e-6)  # exactly the fp16-rounded model
    assert torch.allclose(ours, ref, atol=1e-2)  # and the original to fp16 tolerance


def test_load_autoencoder_rejects_other_kinds(tmp_path, autoencoder):
    save_pretrained(autoencoder, "wrong", {"kind": "latent_diffusion"}, tmp_path)
    with pytest.raises(ValueError, match="not an autoencoder_kl"):
        load_autoencoder("wrong", tmp_path)


def test_load_latent_diffusion_round_trip(tmp_path, autoencoder):
    from ldm_teach.models import UNet, UNetConfig

    _save_ae(autoencoder, tmp_path)
    unet_cfg = UNetConfig(in_channels=2, out_channels=2, base_channels=16, channel_mult=(1,),
                          num_res_blocks=1, attention_levels=(), num_heads=2, norm_groups=8,
                          num_classes=3)
    torch.manual_seed(1)
    unet = UNet(unet_cfg)
    card = {"kind": "latent_diffusion", "autoencoder": "tiny-ae",
            "config": {"unet": unet_cfg.to_dict(),
                       "schedule": {"num_train_timesteps": 50, "beta_schedule": "linear"},
                       "scale_factor": 0.75, "cond_drop_prob": 0.2}}
    save_pretrained(unet, "tiny-ldm", card, tmp_path)
    ldm = load_latent_diffusion("tiny-ldm", tmp_path)
    assert ldm.unet.config == unet_cfg
    assert ldm.scale_factor.item() == pytest.approx(0.75)
    assert ldm.cond_drop_prob == pytest.approx(0.2)
    for k, v in unet.state_dict().items():
        assert torch.equal(ldm.unet.state_dict()[k], v.half().float())
    for k, v in autoencoder.state_dict().items():
        assert torch.equal(ldm.autoencoder.state_dict()[k], v.half().float())
    with pytest.raises(ValueError, match="not a latent_diffusion"):
        load_latent_diffusion("tiny-ae", tmp_path)


def test_names_with_folders_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no folders"):
        load_card("../weights/digits-kl-f4")
