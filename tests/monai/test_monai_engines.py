"""medseg networks, losses and metrics inside MONAI inferers and Ignite engines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset, MetaTensor
from monai.inferers import SimpleInferer, SliceInferer, SlidingWindowInferer
from monai.transforms import CastToTyped, Compose, EnsureChannelFirstd, EnsureTyped

from medseg.models import create_model


def _tiny_unet(num_classes=2):
    torch.manual_seed(0)
    return create_model(
        "unet_medical", num_classes=num_classes, in_channels=1, base_channels=4
    ).eval()


def test_sliding_window_inferer_equals_medseg_sliding_window(test_unet):
    from medseg.engine.sliding import make_inferer, sliding_window_predict

    x = torch.randn(1, test_unet.cfg.in_channels, 90, 70)
    ours = sliding_window_predict(test_unet, x, roi_size=(48, 48), overlap=0.25, mode="gaussian")
    with torch.no_grad():
        monai_out = SlidingWindowInferer(
            roi_size=(48, 48), sw_batch_size=4, overlap=0.25, mode="gaussian"
        )(x, test_unet)
        made = make_inferer((48, 48), overlap=0.25, mode="gaussian")(x, test_unet)
    assert ours.shape == (1, 2, 90, 70)
    torch.testing.assert_close(
        monai_out.as_tensor() if isinstance(monai_out, MetaTensor) else monai_out,
        ours.as_tensor() if isinstance(ours, MetaTensor) else ours,
    )
    torch.testing.assert_close(made, monai_out)
    # and it is a real blend: not what one whole-image forward pass gives
    with torch.no_grad():
        assert (test_unet(x) - ours).abs().max() > 1e-3


def test_slice_inferer_runs_the_2d_model_on_axial_slices(test_unet):
    c = test_unet.cfg.in_channels
    vol = MetaTensor(torch.randn(1, c, 40, 36, 5), affine=torch.diag(torch.tensor([2.0, 2, 3, 1])))
    with torch.no_grad():
        out = SliceInferer(roi_size=(-1, -1), spatial_dim=2, sw_batch_size=3)(vol, test_unet)
        ref = torch.stack([test_unet(vol.as_tensor()[..., k]) for k in range(5)], dim=-1)
    assert isinstance(out, MetaTensor)
    torch.testing.assert_close(out.as_tensor(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "name,kwargs,cin",
    [("unet_medical", {"base_channels": 4}, 5), ("unet", {"base_channels": 4}, 3)],
)
def test_models_accept_metatensor(name, kwargs, cin):
    torch.manual_seed(0)
    model = create_model(name, **kwargs).eval()
    x = torch.randn(2, cin, 37, 29)
    mt = MetaTensor(x.clone(), affine=torch.diag(torch.tensor([0.5, 0.5, 1.0, 1.0])))
    with torch.no_grad():
        a, b = model(x), model(mt)
    torch.testing.assert_close(torch.as_tensor(b), a)
    assert model.predict(mt).shape == (2, 37, 29)


def test_intensity_functions_accept_metatensor():
    from medseg.transforms.intensity import apply_window, zscore_normalize

    x = torch.randn(1, 8, 8, 3) * 100
    mt = MetaTensor(x.clone())
    torch.testing.assert_close(torch.as_tensor(apply_window(mt, 40, 80)), apply_window(x, 40, 80))
    torch.testing.assert_close(torch.as_tensor(zscore_normalize(mt)), zscore_normalize(x))


def _tiny_data(n=4, size=32):
    rng = np.random.default_rng(0)
    items = []
    for _ in range(n):
        lab = np.zeros((size, size), np.float32)
        r, c = rng.integers(4, size - 12, 2)
        lab[r : r + 8, c : c + 8] = 1
        img = lab * 2 + rng.normal(0, 0.3, lab.shape).astype(np.float32)
        items.append({"image": img, "label": lab})
    tf = Compose(
        [
            EnsureChannelFirstd(["image", "label"], channel_dim="no_channel"),
            EnsureTyped(["image", "label"]),
            CastToTyped("label", dtype=torch.long),
        ]
    )
    return Dataset(items, tf)


def test_supervised_trainer_with_medseg_unet_and_loss():
    from monai.engines import SupervisedTrainer

    from medseg.losses import DiceLoss

    model = _tiny_unet().train()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=DataLoader(_tiny_data(), batch_size=2),
        network=model,
        optimizer=opt,
        loss_function=DiceLoss(num_classes=2),
        inferer=SimpleInferer(),
    )
    trainer.run()
    assert trainer.state.iteration == 2
    assert np.isfinite(float(trainer.state.output[0]["loss"]))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_supervised_evaluator_with_confusion_matrix_handler():
    from monai.engines import SupervisedEvaluator
    from monai.handlers import from_engine
    from monai.transforms import AsDiscreted

    from medseg.monai.handlers import ConfusionMatrixHandler

    model = _tiny_unet(num_classes=3)
    data = _tiny_data(n=3)
    handler = ConfusionMatrixHandler(
        num_classes=3, metric_name="miou", output_transform=from_engine(["pred", "label"])
    )
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=DataLoader(data, batch_size=2),
        network=model,
        inferer=SimpleInferer(),
        postprocessing=AsDiscreted("pred", argmax=True),
        key_val_metric={"val_miou": handler},
    )
    evaluator.run()
    # the same number by brute force: one confusion matrix over all pixels of the dataset
    cm = np.zeros((3, 3), np.int64)
    with torch.no_grad():
        for item in data:
            pred = model(item["image"][None]).argmax(1)[0].numpy()
            gt = item["label"][0].numpy()
            for t, p in zip(gt.ravel(), pred.ravel()):
                cm[t, p] += 1
    tp = np.diag(cm).astype(float)
    union = cm.sum(0) + cm.sum(1) - tp
    present = union > 0
    expected = float(np.mean(tp[present] / union[present]))
    assert evaluator.state.metrics["val_miou"] == pytest.approx(expected, abs=1e-12)
    np.testing.assert_array_equal(handler.metric_fn.confusion().numpy(), cm)
