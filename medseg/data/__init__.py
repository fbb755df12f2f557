"""Datasets: Cityscapes, image/mask folders, medical slices, synthetic street scenes."""
