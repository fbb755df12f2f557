"""MONAI dictionary (``...d``) versions of :mod:`medseg.transforms.array`."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform

from .array import CTWindow, MultiWindow, PercentileZScore
from .windows import WindowSpec

__all__ = ["CTWindowd", "MultiWindowd", "PercentileZScored"]


class _Mapped(MapTransform):
    """Apply ``self.transform`` to every selected key."""

    transform: CTWindow | MultiWindow | PercentileZScore

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key])
        return d


class CTWindowd(_Mapped):
    """Dictionary version of :class:`~medseg.transforms.array.CTWindow`."""

    backend = CTWindow.backend

    def __init__(
        self, keys: KeysCollection, window: WindowSpec = "brain", allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.transform = CTWindow(window)


class MultiWindowd(_Mapped):
    """Dictionary version of :class:`~medseg.transforms.array.MultiWindow`."""

    backend = MultiWindow.backend

    def __init__(
        self,
        keys: KeysCollection,
        windows: Sequence[WindowSpec] = ("brain", "subdural", "bone"),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.transform = MultiWindow(windows)


class PercentileZScored(_Mapped):
    """Dictionary version of :class:`~medseg.transforms.array.PercentileZScore`."""

    backend = PercentileZScore.backend

    def __init__(
        self,
        keys: KeysCollection,
        lower: float = 0.5,
        upper: float = 99.5,
        channel_wise: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.transform = PercentileZScore(lower, upper, channel_wise)
