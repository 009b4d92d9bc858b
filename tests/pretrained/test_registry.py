"""Shipped checkpoints: cards, sealing and loaders (ldm_teach.pretrained cards, sealing, registry).

Every test writes its own tiny checkpoints to tmp_path; the package's weights folder is
neither read nor written.
"""

import json

import pytest
import torch

from ldm_teach.autoencoders import AutoencoderKL, AutoencoderKLConfig
from ldm_teach.pretrained import (
    ChecksumError,
    available,
    cards,
    load_autoencoder,
    load_card,
    load_latent_diffusion,
    load_state_dict,
    registry,
    save_pretrained,
)
from ldm_teach.training.checkpoint import load_tensors, sha256_file

AE_CFG = AutoencoderKLConfig(
    in_channels=1, base_channels=16, channel_mult=(1, 2), latent_channels=2, norm_groups=8
)


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
        "tiny-ae",
        "float16",
        "autoencoder_kl",
        0,
    )
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
    assert cards.card_path("x") == cards.WEIGHTS_DIR / "x.json"
    assert cards.weights_path("x") == cards.WEIGHTS_DIR / "x.safetensors"
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
        rounded.load_state_dict({k: v.half().float() for k, v in autoencoder.state_dict().items()})
        ref_rounded = rounded.decode(rounded.encode(x).mode())
    assert torch.allclose(ours, ref_rounded, atol=1e-6)  # exactly the fp16-rounded model
    assert torch.allclose(ours, ref, atol=1e-2)  # and the original to fp16 tolerance


def test_load_autoencoder_rejects_other_kinds(tmp_path, autoencoder):
    save_pretrained(autoencoder, "wrong", {"kind": "latent_diffusion"}, tmp_path)
    with pytest.raises(ValueError, match="not an autoencoder_kl"):
        load_autoencoder("wrong", tmp_path)


def _tiny_unet_config():
    """A 3-class UNet on the 2-channel latents of the tiny autoencoder of these tests."""
    from ldm_teach.models import UNetConfig

    return UNetConfig(
        in_channels=2,
        out_channels=2,
        base_channels=16,
        channel_mult=(1,),
        num_res_blocks=1,
        attention_levels=(),
        num_heads=2,
        norm_groups=8,
        num_classes=3,
    )


def test_load_latent_diffusion_round_trip(tmp_path, autoencoder):
    from ldm_teach.models import UNet

    _save_ae(autoencoder, tmp_path)
    unet_cfg = _tiny_unet_config()
    torch.manual_seed(1)
    unet = UNet(unet_cfg)
    card = {
        "kind": "latent_diffusion",
        "autoencoder": "tiny-ae",
        "config": {
            "unet": unet_cfg.to_dict(),
            "schedule": {"num_train_timesteps": 50, "beta_schedule": "linear"},
            "scale_factor": 0.75,
            "cond_drop_prob": 0.2,
        },
    }
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


def _tiny_ldm_card(autoencoder="tiny-ae", **extra):

    unet_cfg = _tiny_unet_config()
    card = {
        "kind": "latent_diffusion",
        "autoencoder": autoencoder,
        "config": {
            "unet": unet_cfg.to_dict(),
            "schedule": {"num_train_timesteps": 50, "beta_schedule": "linear"},
            "scale_factor": 0.75,
        },
        **extra,
    }
    return card, unet_cfg


def test_failure_between_the_two_renames_keeps_the_previous_checkpoint(
    tmp_path, autoencoder, monkeypatch
):
    from ldm_teach.training import checkpoint as ckpt

    _save_ae(autoencoder, tmp_path)
    before, card_before = load_state_dict("tiny-ae", tmp_path)
    with torch.no_grad():
        autoencoder.post_quant_conv.bias.add_(1.0)
    real, calls = ckpt.os.replace, []

    def replace(src, dst):  # the weights are renamed into place, then the card's rename fails
        calls.append(dst)
        if str(dst).endswith(".json"):
            raise OSError("power cut")
        real(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", replace)
    with pytest.raises(OSError, match="power cut"):
        _save_ae(autoencoder, tmp_path, overwrite=True)
    monkeypatch.undo()
    assert [str(p).rsplit(".", 1)[-1] for p in calls[:2]] == ["safetensors", "json"]
    after, card_after = load_state_dict("tiny-ae", tmp_path)  # verifies the SHA-256
    assert card_after == card_before
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-ae.json", "tiny-ae.safetensors"]


def test_a_crash_between_the_two_renames_is_explained_on_load(tmp_path, autoencoder):
    import shutil

    from ldm_teach.training.checkpoint import backup_path

    wpath = _save_ae(autoencoder, tmp_path)
    other = tmp_path / "other"
    with torch.no_grad():
        autoencoder.post_quant_conv.bias.add_(1.0)
    new_weights = _save_ae(autoencoder, other)
    # what a hard crash after the weights' rename leaves: new weights, old card, backup
    shutil.copy(wpath, backup_path(wpath))
    shutil.copy(new_weights, wpath)
    with pytest.raises(ChecksumError, match="interrupted") as exc:
        load_state_dict("tiny-ae", tmp_path)
    assert f"mv {backup_path(wpath)} {wpath}" in str(exc.value)
    shutil.move(backup_path(wpath), wpath)  # the advice works
    load_state_dict("tiny-ae", tmp_path)


def test_renamed_pair_and_card_without_sha256_name_the_file(tmp_path, autoencoder):
    _save_ae(autoencoder, tmp_path)
    (tmp_path / "tiny-ae.json").rename(tmp_path / "moved.json")
    (tmp_path / "tiny-ae.safetensors").rename(tmp_path / "moved.safetensors")
    with pytest.raises(ValueError, match=r"moved\.json is the card of 'tiny-ae', not of 'moved'"):
        load_state_dict("moved", tmp_path)
    card = json.loads((tmp_path / "moved.json").read_text())
    card["name"] = "moved"
    del card["sha256"]
    (tmp_path / "moved.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match=r"moved\.json has no 'sha256'"):
        load_state_dict("moved", tmp_path)
    (tmp_path / "moved.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"moved\.json is not valid JSON"):
        load_card("moved", tmp_path)


def test_ldm_cards_pin_their_autoencoder_and_a_retrained_one_is_caught(tmp_path, autoencoder):
    from ldm_teach.models import UNet
    from ldm_teach.pretrained import ParentMismatchError
    from ldm_teach.pretrained.registry import check_autoencoder_pin

    _save_ae(autoencoder, tmp_path)
    ae_sha = load_card("tiny-ae", tmp_path)["sha256"]
    card, unet_cfg = _tiny_ldm_card()
    save_pretrained(UNet(unet_cfg), "tiny-ldm", card, tmp_path)
    ldm_card = load_card("tiny-ldm", tmp_path)
    assert ldm_card["autoencoder_sha256"] == ae_sha and ldm_card["card_format"] == 3
    check_autoencoder_pin(ldm_card, tmp_path)  # the autoencoder it was trained on: fine
    with torch.no_grad():  # retrain the autoencoder into the same folder
        autoencoder.post_quant_conv.bias.add_(1.0)
    _save_ae(autoencoder, tmp_path, overwrite=True)
    new_sha = load_card("tiny-ae", tmp_path)["sha256"]
    with pytest.raises(ParentMismatchError) as exc:
        check_autoencoder_pin(ldm_card, tmp_path)
    message = str(exc.value)
    for fragment in (
        str(tmp_path / "tiny-ldm.json"),
        str(tmp_path / "tiny-ae.safetensors"),
        ae_sha,
        new_sha,
        "Retrain",
    ):
        assert fragment in message


def test_autoencoder_pin_is_required_except_for_the_pixel_baseline(tmp_path, autoencoder):
    from ldm_teach.pretrained.registry import check_autoencoder_pin

    _save_ae(autoencoder, tmp_path)
    old = {"kind": "latent_diffusion", "name": "old-ldm", "autoencoder": "tiny-ae"}
    # once, cards without card_format skipped the pin: deleting it was enough to bypass it
    for card in (old, {**old, "card_format": 1}, {**old, "card_format": 3}):
        with pytest.raises(ValueError, match=r"old-ldm\.json does not pin"):
            check_autoencoder_pin(card, tmp_path)
    check_autoencoder_pin({**old, "autoencoder": "pixel"}, tmp_path)
    # an explicit pin (recipes pin the autoencoder they loaded) is kept as given
    card, unet_cfg = _tiny_ldm_card(autoencoder_sha256="0" * 64)
    from ldm_teach.models import UNet

    save_pretrained(UNet(unet_cfg), "pinned", card, tmp_path)
    assert load_card("pinned", tmp_path)["autoencoder_sha256"] == "0" * 64


def test_load_latent_diffusion_honours_the_cards_prediction_type(tmp_path, autoencoder):
    # a v_prediction card used to load (and sample) as an epsilon model
    from ldm_teach.diffusion import ddim_sample
    from ldm_teach.models import UNet

    _save_ae(autoencoder, tmp_path)
    unet_cfg = _tiny_unet_config()
    torch.manual_seed(1)
    unet = UNet(unet_cfg)
    with torch.no_grad():
        unet.conv_out.weight.normal_(0, 0.1)  # so the prediction depends on the input

    def card(**extra):
        return {
            "kind": "latent_diffusion",
            "autoencoder": "tiny-ae",
            "config": {
                "unet": unet_cfg.to_dict(),
                "schedule": {"num_train_timesteps": 10, "beta_schedule": "linear"},
                "scale_factor": 0.75,
                **extra,
            },
        }

    save_pretrained(unet, "v-ldm", card(prediction_type="v_prediction"), tmp_path)
    save_pretrained(unet, "old-ldm", card(), tmp_path)  # older cards do not record it
    save_pretrained(unet, "bad-ldm", card(prediction_type="x0"), tmp_path)
    v_ldm = load_latent_diffusion("v-ldm", tmp_path)
    assert v_ldm.prediction_type == "v_prediction"
    assert load_latent_diffusion("old-ldm", tmp_path).prediction_type == "epsilon"
    with pytest.raises(ValueError, match="prediction_type must be one of"):
        load_latent_diffusion("bad-ldm", tmp_path)

    y = torch.tensor([0, 2])
    kw = dict(guidance_scale=2.0, num_inference_steps=3, progress=False)
    images = v_ldm.sample(2, 8, y, generator=torch.Generator().manual_seed(0), **kw)
    # the same draw, sampled by hand reading the UNet as v
    z_T = torch.randn((2, *v_ldm.latent_shape(8)), generator=torch.Generator().manual_seed(0))
    z0 = ddim_sample(
        v_ldm.eps_fn(y, 2.0),
        z_T.shape,
        v_ldm.schedule,
        num_inference_steps=3,
        x_T=z_T,
        prediction_type="v_prediction",
        progress=False,
    )
    torch.testing.assert_close(images, v_ldm.decode(z0))
    as_eps = load_latent_diffusion("old-ldm", tmp_path).sample(
        2, 8, y, generator=torch.Generator().manual_seed(0), **kw
    )
    assert (images - as_eps).abs().max() > 1e-3


def test_load_latent_diffusion_refuses_an_autoencoder_it_was_not_trained_on(tmp_path):
    import shutil

    from ldm_teach.pretrained import ParentMismatchError
    from ldm_teach.pretrained.cards import card_path, weights_path

    for name in ("digits-kl-f4", "digits-ldm"):
        for path in (weights_path(name), card_path(name)):
            shutil.copy(path, tmp_path / path.name)
    load_latent_diffusion("digits-ldm", tmp_path)  # the shipped pair is pinned and loads
    ldm_card = tmp_path / "digits-ldm.json"
    card = json.loads(ldm_card.read_text())
    assert card["autoencoder_sha256"] == load_card("digits-kl-f4")["sha256"]
    card["autoencoder_sha256"] = "0" * 64  # as if digits-kl-f4 had been retrained since
    ldm_card.write_text(json.dumps(cards.sealed(card)))
    with pytest.raises(ParentMismatchError, match="digits-kl-f4"):
        load_latent_diffusion("digits-ldm", tmp_path)


def test_every_shipped_latent_diffusion_card_pins_its_autoencoder():
    from ldm_teach.pretrained import available
    from ldm_teach.pretrained.recipes import FIXED_STAGE_ONE
    from ldm_teach.pretrained.registry import check_autoencoder_pin

    for name in available():
        card = load_card(name)
        if card.get("kind") == "latent_diffusion" and card["autoencoder"] not in FIXED_STAGE_ONE:
            assert card["autoencoder_sha256"] == load_card(card["autoencoder"])["sha256"], name
            check_autoencoder_pin(card)


def test_empty_weights_dir_is_refused_not_the_package_folder(tmp_path, autoencoder):
    for call in (
        lambda: cards.card_path("x", ""),
        lambda: cards.weights_path("x", ""),
        lambda: available(""),
        lambda: load_card("digits-kl-f4", ""),
        lambda: load_autoencoder("digits-kl-f4", ""),
        lambda: _save_ae(autoencoder, ""),
    ):
        with pytest.raises(ValueError, match="weights_dir must name a folder, got ''"):
            call()


def test_save_pretrained_into_a_file_is_refused_before_writing(tmp_path, autoencoder):
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(NotADirectoryError, match="weights_dir .*afile is a file"):
        _save_ae(autoencoder, tmp_path / "afile" / "sub")
    assert (tmp_path / "afile").read_text() == "mine"


@pytest.mark.parametrize("value", [1e6, -7e4, float("inf"), float("nan")])
def test_save_pretrained_refuses_weights_float16_cannot_hold(tmp_path, autoencoder, value):
    with torch.no_grad():
        autoencoder.post_quant_conv.bias[0] = value
    with pytest.raises(ValueError, match=r"tensor 'post_quant_conv\.bias'"):
        _save_ae(autoencoder, tmp_path)
    assert list(tmp_path.iterdir()) == []
    with torch.no_grad():
        autoencoder.post_quant_conv.bias[0] = 65504.0  # float16's largest: kept
    _save_ae(autoencoder, tmp_path)


def test_damaged_cards_name_the_file(tmp_path, autoencoder):
    _save_ae(autoencoder, tmp_path)
    path = tmp_path / "tiny-ae.json"
    card = json.loads(path.read_text())
    path.write_text(json.dumps({**card, "card_format": "2"}))
    with pytest.raises(ValueError, match=r"tiny-ae\.json: 'card_format' must be a positive"):
        load_autoencoder("tiny-ae", tmp_path)
    del card["config"]
    path.write_text(json.dumps(cards.sealed(card)))  # sealed, so the missing config shows
    with pytest.raises(ValueError, match=r"tiny-ae\.json has no 'config'"):
        load_autoencoder("tiny-ae", tmp_path)
    ldm_card, _ = _tiny_ldm_card()
    _save_ae(autoencoder, tmp_path, overwrite=True)
    ldm_card["config"].pop("schedule")
    save_pretrained(torch.nn.Linear(1, 1), "tiny-ldm", ldm_card, tmp_path)
    with pytest.raises(ValueError, match=r"tiny-ldm\.json: 'config' lacks 'schedule'"):
        load_latent_diffusion("tiny-ldm", tmp_path)


def test_an_edited_card_config_is_refused_on_load(tmp_path, autoencoder):
    # a hand-edited config used to load silently and build another model around the weights
    from ldm_teach.pretrained import CardEditedError

    _save_ae(autoencoder, tmp_path)
    path = tmp_path / "tiny-ae.json"
    original = path.read_text()
    card = json.loads(original)
    assert card["card_format"] == 3 and card["card_sha256"] == cards.card_seal(card)
    edits = [
        lambda c: c["config"].update(scaling_factor=0.5),
        lambda c: c.update(kind="autoencoder_vq"),
        lambda c: c.update(card_sha256="0" * 64),
        lambda c: c.pop("card_sha256"),
    ]
    for edit in edits:
        edited = json.loads(original)
        edit(edited)
        path.write_text(json.dumps(edited))
        with pytest.raises(CardEditedError, match=r"tiny-ae\.json was edited since it was saved"):
            load_autoencoder("tiny-ae", tmp_path)
    # layout does not matter: the seal is over the content
    path.write_text(json.dumps(json.loads(original), indent=None, sort_keys=False))
    load_autoencoder("tiny-ae", tmp_path)
    path.write_text(original.replace('"steps": 0', '"steps": NaN'))
    with pytest.raises(ValueError, match="values JSON does not allow"):
        load_card("tiny-ae", tmp_path)


def _digits_latent_std(name, folder):
    from ldm_teach.data import DigitsDataset
    from ldm_teach.models import compute_scale_factor

    return 1.0 / compute_scale_factor(load_autoencoder(name, folder), DigitsDataset("train").images)


def test_seal_cards_does_not_pin_an_old_ldm_card_to_a_retrained_autoencoder(tmp_path, autoencoder):
    # found by the fourth bad-input pass: the retrained autoencoder was pinned, and the
    # wrong pair then loaded silently
    from ldm_teach.models import UNet
    from ldm_teach.pretrained import ParentMismatchError, seal_cards

    _save_ae(autoencoder, tmp_path)
    card, unet_cfg = _tiny_ldm_card(
        latent_std=_digits_latent_std("tiny-ae", tmp_path), data={"dataset": "digits"}
    )
    save_pretrained(UNet(unet_cfg), "tiny-ldm", card, tmp_path)
    path = tmp_path / "tiny-ldm.json"
    old = json.loads(path.read_text())
    for key in ("card_format", "card_sha256", "autoencoder_sha256"):
        old.pop(key)
    path.write_text(json.dumps(old))
    with torch.no_grad():  # "retrain" the autoencoder: its latents now have another std
        autoencoder.quant_conv.weight.mul_(3.0)
    _save_ae(autoencoder, tmp_path, overwrite=True)
    with pytest.raises(ParentMismatchError, match="retrained or replaced"):
        seal_cards(["tiny-ldm"], tmp_path)
    assert "card_sha256" not in json.loads(path.read_text())  # nothing was sealed
    assert seal_cards(["tiny-ldm"], tmp_path, accept_edits=True) == [("tiny-ldm", "sealed")]


def test_old_cards_are_refused_until_sealed_and_the_seal_pins_the_parent(
    tmp_path, autoencoder, capsys
):
    from ldm_teach.cli import main
    from ldm_teach.models import UNet
    from ldm_teach.pretrained import UnsealedCardError, seal_cards

    _save_ae(autoencoder, tmp_path)
    card, unet_cfg = _tiny_ldm_card(
        latent_std=_digits_latent_std("tiny-ae", tmp_path), data={"dataset": "digits"}
    )
    save_pretrained(UNet(unet_cfg), "tiny-ldm", card, tmp_path)
    ae_sha = load_card("tiny-ae", tmp_path)["sha256"]
    for name in ("tiny-ae", "tiny-ldm"):  # as an earlier version wrote them: format 1
        path = tmp_path / f"{name}.json"
        old = json.loads(path.read_text())
        for key in ("card_format", "card_sha256", "autoencoder_sha256"):
            old.pop(key, None)
        path.write_text(json.dumps(old))
    with pytest.raises(UnsealedCardError, match=r"seal-cards tiny-ldm --weights-dir"):
        load_latent_diffusion("tiny-ldm", tmp_path)
    assert main(["seal-cards", "--weights-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "tiny-ae: sealed\ntiny-ldm: sealed\n"
    ldm_card = load_card("tiny-ldm", tmp_path)
    assert ldm_card["autoencoder_sha256"] == ae_sha and ldm_card["card_format"] == 3
    assert seal_cards(None, tmp_path) == [
        ("tiny-ae", "already sealed"),
        ("tiny-ldm", "already sealed"),
    ]


def test_seal_cards_refuses_edits_and_bad_weights_unless_told(tmp_path, autoencoder, capsys):
    from ldm_teach.cli import main

    _save_ae(autoencoder, tmp_path)
    path = tmp_path / "tiny-ae.json"
    card = json.loads(path.read_text())
    card["note"] = "mine"
    path.write_text(json.dumps(card))
    assert main(["seal-cards", "tiny-ae", "--weights-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "was edited since it was saved" in err and err.count("\n") == 1
    assert json.loads(path.read_text()) == card  # nothing rewritten
    assert main(["seal-cards", "tiny-ae", "--weights-dir", str(tmp_path), "--accept-edits"]) == 0
    assert capsys.readouterr().out == "tiny-ae: resealed\n"
    assert load_card("tiny-ae", tmp_path)["note"] == "mine"
    # weights that do not match their card are never sealed
    card = load_card("tiny-ae", tmp_path)
    del card["card_format"], card["card_sha256"]
    path.write_text(json.dumps(card))
    wpath = tmp_path / "tiny-ae.safetensors"
    wpath.write_bytes(wpath.read_bytes()[:-1] + b"\0")
    assert main(["seal-cards", "--weights-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not sealing 'tiny-ae'" in err and "Traceback" not in err
    assert "card_sha256" not in json.loads(path.read_text())


def test_every_shipped_card_is_sealed():
    for name in available():
        card = load_card(name)  # verifies the seal
        assert card["card_format"] == cards.CARD_FORMAT, name


def test_lowering_card_format_is_no_way_round_the_seal_or_the_pin(tmp_path, autoencoder):
    # found by the third bad-input pass: card_format 2 + an edit, then seal-cards, loaded
    from ldm_teach.models import UNet
    from ldm_teach.pretrained import CardEditedError, seal_cards

    _save_ae(autoencoder, tmp_path)
    card, unet_cfg = _tiny_ldm_card()
    save_pretrained(UNet(unet_cfg), "tiny-ldm", card, tmp_path)
    path = tmp_path / "tiny-ldm.json"
    sealed_text = path.read_text()
    edited = json.loads(sealed_text)
    edited["card_format"], edited["config"]["scale_factor"] = 2, 5.0
    path.write_text(json.dumps(edited))
    with pytest.raises(CardEditedError, match="never wrote"):
        seal_cards(["tiny-ldm"], tmp_path)
    edited.pop("card_sha256")
    edited.pop("autoencoder_sha256")  # format 2 always pinned the autoencoder
    path.write_text(json.dumps(edited))
    with pytest.raises(CardEditedError, match="never wrote"):
        seal_cards(["tiny-ldm"], tmp_path)
    assert json.loads(path.read_text()) == edited  # nothing rewritten
    assert seal_cards("tiny-ldm", tmp_path, accept_edits=True) == [("tiny-ldm", "sealed")]


def test_seal_cards_in_a_folder_that_does_not_exist_is_an_error(tmp_path, capsys):
    from ldm_teach.cli import main

    (tmp_path / "afile").write_text("x")
    for missing in (tmp_path / "nope", tmp_path / "afile"):
        assert main(["seal-cards", "--weights-dir", str(missing)]) == 2
        assert f"weights_dir {missing} is not a folder" in capsys.readouterr().err
    assert main(["seal-cards", "--weights-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "no checkpoints found\n"


@pytest.mark.parametrize("device", ["gpu", "", 5, None, True])
def test_loaders_name_a_bad_device(device):
    # found by the third bad-input pass: torch RuntimeErrors ("Expected one of cpu, cuda...")
    import torch

    if device is None:
        device = "cuda" if not torch.cuda.is_available() else "gpu"
    for load in (load_autoencoder, load_latent_diffusion):
        with pytest.raises(ValueError, match="device"):
            load(device=device)
    assert next(load_autoencoder(device="cpu").parameters()).device.type == "cpu"


def test_a_resealed_card_whose_config_does_not_fit_its_weights_is_named(tmp_path, autoencoder):
    # found by the third bad-input pass: torch's multi-line "Error(s) in loading state_dict"
    _save_ae(autoencoder, tmp_path)
    path = tmp_path / "tiny-ae.json"
    card = json.loads(path.read_text())
    for edit in (
        {"latent_channels": 3},
        {"base_channels": 8},
        {"channel_mult": "ab"},
        {"nonsense": 1},
    ):
        edited = {**card, "config": {**card["config"], **edit}}
        path.write_text(json.dumps(cards.sealed(edited)))
        with pytest.raises(
            ValueError,
            match=r"tiny-ae\.json: its config does not describe "
            r"the weights",
        ) as exc:
            load_autoencoder("tiny-ae", tmp_path)
        assert "\n" not in str(exc.value)


def test_weights_holding_nan_are_refused_on_load(tmp_path, autoencoder):
    # found by the third bad-input pass: a resealed checkpoint with NaN weights loaded
    from ldm_teach.training.checkpoint import write_tensors

    _save_ae(autoencoder, tmp_path)
    tensors, _ = load_tensors(tmp_path / "tiny-ae.safetensors")
    tensors["post_quant_conv.bias"][0] = float("nan")
    write_tensors(tensors, tmp_path / "tiny-ae.safetensors", {"name": "tiny-ae"})
    card = json.loads((tmp_path / "tiny-ae.json").read_text())
    card["sha256"] = sha256_file(tmp_path / "tiny-ae.safetensors")
    (tmp_path / "tiny-ae.json").write_text(json.dumps(cards.sealed(card)))
    with pytest.raises(
        ValueError,
        match=r"non-finite values \(NaN or inf\) in "
        r"post_quant_conv\.bias",
    ):
        load_autoencoder("tiny-ae", tmp_path)
