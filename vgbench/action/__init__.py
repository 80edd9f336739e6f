"""Skeleton action accuracy (CTSVG Sec. 5.3): 2-D keypoints of people in videos, a PoseC3D recogniser trained on
real keypoints, and its top-1/top-3 accuracy on generated videos of known action labels.

``keypoints`` holds the keypoint-set container and its ``.npz`` file format, shared by the pose extractor (which
writes it) and the recogniser (which reads it). ``heatmaps`` turns keypoints into PoseC3D heatmap volumes
(mmaction2's pipelines), ``recognizer`` trains, saves, loads and applies the PoseC3D classifier
(:mod:`vgbench.detectors.posec3d`), ``labels`` reads label files; the accuracy record is
:mod:`vgbench.metrics.action`.
"""
