"""One shared tester for every registered model (segmentation_models_pytorch style)."""

from __future__ import annotations

import pytest
import torch

from medseg.models import ModelCfg, create_model, list_models

# Small but faithful variants keep the suite fast; the architectures are unchanged.
SMALL_KWARGS = {
    "fcn_vgg16": {"fc_channels": 64},
    "unet": {"base_channels": 8},
    "unet_medical": {"base_channels": 8},
}


def _build(name: str, **kw) -> torch.nn.Module:
    return create_model(name, num_classes=5, **{**SMALL_KWARGS.get(name, {}), **kw})


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_backward_and_cfg(name):
    m = _build(name)
    assert isinstance(m.cfg, ModelCfg) and m.cfg.name == name and m.cfg.num_classes == 5
    c = m.cfg.in_channels
    x = torch.randn(2, c, 64, 96)
    y = m(x)
    assert isinstance(y, torch.Tensor) and y.shape == (2, 5, 64, 96)
    y.mean().backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("hw", [(33, 47), (1, 1), (50, 17)])
def test_odd_sizes(name, hw):
    m = _build(name).eval()
    with torch.no_grad():
        y = m(torch.randn(1, m.cfg.in_channels, *hw))
    assert y.shape == (1, 5, *hw)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", list_models())
def test_eval_is_deterministic(name):
    m = _build(name).eval()
    x = torch.randn(1, m.cfg.in_channels, 48, 64)
    with torch.no_grad():
        assert torch.equal(m(x), m(x))


@pytest.mark.parametrize("name", list_models())
def test_batch_one_in_train_mode(name):
    m = _build(name).train()
    y = m(torch.randn(1, m.cfg.in_channels, 64, 64))
    y.sum().backward()
    assert y.shape == (1, 5, 64, 64)


def test_unknown_model_lists_known_names():
    with pytest.raises(ValueError) as e:
        create_model("no_such_net")
    for n in list_models():
        assert n in str(e.value)


def test_wrong_input_channels_is_a_clear_error():
    m = create_model("unet_medical", in_channels=1, base_channels=8)
    with pytest.raises(ValueError, match="expected 1 input channels, got 3"):
        m(torch.randn(1, 3, 32, 32))


def test_in_channels_override_changes_first_layer():
    m = create_model("unet", in_channels=4, base_channels=8)
    assert m.cfg.in_channels == 4 and len(m.cfg.mean) == 4
    assert m(torch.randn(1, 4, 32, 32)).shape[1] == 19


def test_unet_transposed_conv_variant():
    m = create_model("unet", bilinear=False, base_channels=8)
    assert any(isinstance(x, torch.nn.ConvTranspose2d) for x in m.modules())
    assert m(torch.randn(1, 3, 40, 40)).shape == (1, 19, 40, 40)


def test_fcn_256_has_non_degenerate_pool5():
    m = create_model("fcn_vgg16", fc_channels=16).eval()
    seen = {}
    m.stage5.register_forward_hook(lambda mod, i, o: seen.update(p5=o.shape))
    with torch.no_grad():
        m(torch.randn(1, 3, 256, 256))
    assert seen["p5"][-2:] == (8, 8)


def test_fcn_upsampler_starts_bilinear():
    # A transposed conv initialised with the bilinear kernel must reproduce bilinear
    # interpolation of a smooth ramp away from the borders (independent check with F.interpolate).
    from medseg.models.fcn import _upsampler

    up = _upsampler(1, 2)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = up(x)
    ref = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert y.shape == ref.shape
    assert torch.allclose(y[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2], atol=1e-5)


@pytest.mark.parametrize("os_", [8, 16])
def test_deeplab_output_stride_and_rates(os_):
    m = create_model("deeplabv3_resnet50", output_stride=os_, num_classes=3).eval()
    feats = {}
    m.backbone.register_forward_hook(lambda mod, i, o: feats.update(f=o["out"].shape))
    with torch.no_grad():
        m(torch.randn(1, 3, 64, 64))
    assert feats["f"][-1] == 64 // os_
    rates = [c[0].dilation[0] for c in m.classifier[0].convs[1:4]]
    assert rates == ([12, 24, 36] if os_ == 8 else [6, 12, 18])


def test_deeplab_loads_torchvision_state_dict(tmp_path):
    from torchvision.models.segmentation import deeplabv3_resnet50

    tv = deeplabv3_resnet50(
        weights=None, weights_backbone=None, num_classes=4, aux_loss=True
    ).eval()
    path = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), path)
    ours = create_model("deeplabv3_resnet50", num_classes=4, output_stride=8, weights=path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), tv(x)["out"], atol=1e-5)


def test_light_model_loads_torchvision_state_dict(tmp_path):
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    tv = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=19).eval()
    path = tmp_path / "tv.pth"
    torch.save({"model": tv.state_dict()}, path)
    ours = create_model("lraspp_mobilenet_v3", weights=path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), tv(x)["out"], atol=1e-5)


def test_checkpoint_with_code_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": Evil()}, f)
    with pytest.raises(ValueError, match="not a usable weights file") as e:
        create_model("unet_medical", weights=path)
    # never advise loading with weights_only=False (that would run the file's code)
    assert "weights_only" not in str(e.value) and "state dict" in str(e.value)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"\x80\x04garbage"])
def test_unusable_weights_file_says_what_was_expected(tmp_path, content):
    path = tmp_path / "model.onnx.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError) as e:
        create_model("unet_medical", weights=path)
    msg = str(e.value)
    assert "weights_only" not in msg and "UnpicklingError" not in msg.split("(")[0]
    assert ".onnx" in msg and "state dict" in msg


def test_wrong_architecture_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "other.pt"
    torch.save(create_model("unet", base_channels=8).state_dict(), path)
    with pytest.raises(ValueError, match="does not match"):
        create_model("unet_medical", weights=path)


def test_pretrained_without_weights_is_a_clear_error():
    with pytest.raises(ValueError, match="no shipped weights|need num_classes"):
        create_model("fcn_vgg16", pretrained=True)
