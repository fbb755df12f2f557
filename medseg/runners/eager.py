"""Runners over PyTorch: eager (optionally channels-last and/or bf16 autocast) and TorchScript."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from .base import Runner


class TorchRunner(Runner):
    """Eager PyTorch, optionally channels-last memory format and/or bf16 autocast."""

    def __init__(
        self,
        model: nn.Module,
        *,
        device: str | torch.device = "cpu",
        channels_last: bool = False,
        bf16: bool = False,
    ):
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.bf16 = bf16
        if channels_last:
            # Module.to() converts in place: work on a copy so that other runners sharing the
            # model (e.g. the eager baseline in a benchmark) keep the default layout.
            model = copy.deepcopy(model).to(memory_format=torch.channels_last)
        self.model = model.eval().to(self.device)
        self.name = "bf16" if bf16 else ("channels_last" if channels_last else "torch")

    @torch.no_grad()  # not inference_mode: MONAI updates outputs in place
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.bf16:
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                y = self.model(x)
            return y.float().contiguous()
        return self.model(x).contiguous()


class TorchScriptRunner(Runner):
    """A TorchScript module (traced by :func:`medseg.export.export_torchscript` or loaded)."""

    name = "torchscript"

    def __init__(self, module: torch.jit.ScriptModule | str | Path, device: str = "cpu"):
        self.device = torch.device(device)
        if isinstance(module, (str, Path)):
            with warnings.catch_warnings():  # torch.jit's deprecation notice
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(module), map_location=self.device)
        self.module = module.eval()

    @torch.no_grad()  # not inference_mode: MONAI updates outputs in place
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.to(self.device, torch.float32)).float()
