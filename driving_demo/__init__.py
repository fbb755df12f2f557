"""driving_demo: real-time street-video segmentation on top of medseg."""
