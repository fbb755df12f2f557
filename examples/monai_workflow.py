"""A user's MONAI pipeline with medseg parts in it.

Loads a DICOM series with medseg's reader (series grouping, slice sorting, Hounsfield units),
windows it with a medseg CT preset inside a MONAI ``Compose``, runs the medseg U-Net on every
slice of the three planes (2.5-D: neighbouring slices as channels) through medseg's MONAI
``PlaneViewsInferer``, and writes the mask with MONAI's ``SaveImage`` (NIfTI, on the input's
grid and affine).

    python examples/monai_workflow.py [DICOM_FOLDER_OR_NIFTI] [-o OUT_DIR]

Without arguments it uses the 5-slice CT series that ships with pydicom. The shipped
``unet_medical`` weights are a brain-extraction model for head MRI, so on CT this shows the
plumbing, not a meaningful segmentation; pass ``--weights`` for your own CT checkpoint (a
state dict of ``unet_medical``), or see configs/brain_extraction for the MRI bundle.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def default_series() -> str:
    from pydicom.data import get_testdata_files

    return str(Path(get_testdata_files("dicomdirtests/98892001/CT5N/*")[0]).parent)


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scan", nargs="?", help="DICOM series folder or NIfTI file")
    ap.add_argument("-o", "--out", default="monai_workflow_out", help="output folder")
    ap.add_argument(
        "--window", default="brain", help="CT window preset (medseg.transforms.windows)"
    )
    ap.add_argument("--weights", help="unet_medical state dict (default: the shipped weights)")
    args = ap.parse_args(argv)

    import torch
    from monai.transforms import (
        Compose,
        EnsureChannelFirstd,
        FillHolesd,
        KeepLargestConnectedComponentd,
        Orientationd,
        SaveImage,
    )

    from medseg.io.monai_readers import MedsegLoadImaged
    from medseg.models import create_model
    from medseg.monai.inferers import PlaneViewsInferer
    from medseg.transforms.dictionary import CTWindowd

    scan = args.scan or default_series()

    # 1. load with medseg (as a MONAI reader) and window with a medseg preset, next to
    #    MONAI's own transforms
    preprocess = Compose(
        [
            MedsegLoadImaged("image", series_uid="largest"),  # LoadImaged, medseg reader only
            EnsureChannelFirstd("image"),
            Orientationd("image", axcodes="RAS", labels=None),
            CTWindowd("image", window=args.window),
        ]
    )
    data = preprocess({"image": scan})
    image = data["image"]  # MetaTensor [1, X, Y, Z], affine kept
    print(
        f"loaded {Path(scan).name}: shape {tuple(image.shape[1:])}, "
        f"spacing {[round(float(s), 3) for s in image.pixdim]} mm, "
        f"window {args.window}: values in [{float(image.min()):.2f}, {float(image.max()):.2f}]"
    )

    # 2. the medseg U-Net on every slice of its planes, through a MONAI inferer
    if args.weights:
        model = create_model("unet_medical", weights=args.weights)
    else:
        model = create_model("unet_medical", pretrained=True)
    model.eval()
    cfg = model.cfg
    inferer = PlaneViewsInferer(
        planes=cfg.volume_planes or ("axial",), context=cfg.context_slices, divisor=cfg.divisor
    )
    with torch.no_grad():
        probs = inferer(image[None], model)[0]  # [2, X, Y, Z]
    data["pred"] = probs.argmax(0, keepdim=True).to(torch.uint8)  # keeps the MetaTensor meta

    # 3. MONAI post-processing, then SaveImage writes NIfTI with the image's affine
    post = Compose(
        [
            KeepLargestConnectedComponentd("pred", applied_labels=[1]),
            FillHolesd("pred", applied_labels=[1], connectivity=1),
        ]
    )
    pred = post(data)["pred"]
    out_dir = Path(args.out)
    saver = SaveImage(
        output_dir=out_dir,
        output_postfix="mask",
        output_dtype="uint8",
        separate_folder=False,
        resample=False,
        print_log=False,
    )
    saver(pred)
    written = out_dir / f"{Path(str(image.meta['filename_or_obj'])).name.split('.')[0]}_mask.nii.gz"
    print(f"foreground voxels: {int(pred.sum())} of {pred.numel()}; wrote {written}")
    return written


if __name__ == "__main__":
    main()
