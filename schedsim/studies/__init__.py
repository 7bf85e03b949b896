"""Studies: questions answered by running the model many times.

``sweep`` (a grid's cross product), ``plan`` (the cheapest configuration that meets a deadline),
``rfc`` (Work Queue against Ray at scale), ``validation`` and ``scale_validation`` (the model
against live runs) and ``scale_matrix`` (the live scale runs). They import the model and never the
reverse; the resumable job runner they share is :mod:`schedsim.studies.jobs`, their typed rows
:mod:`schedsim.studies.rows`, and their reports' words lie in ``templates/``
(:mod:`schedsim.studies.prose`). None of this code changes a simulated number
(:func:`schedsim.studies.rfc.model_fingerprint` leaves it out).
"""
