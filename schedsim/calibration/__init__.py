"""Calibration: measure the real task and platforms on this host, fit models, write a profile.

Calibration is an offline step. :mod:`~schedsim.calibration.measure` runs the native
``compress_task`` over a sweep of sizes (and live Work Queue and Ray runs), writing raw
measurements as JSONL; :mod:`~schedsim.calibration.fit` fits the task's time and output-size
models with scipy; :mod:`~schedsim.calibration.profile` is the JSON profile they produce, which
the ``profile`` distribution of scenarios reads. The simulator imports only ``profile``.
"""
