"""The live platform ``zmq``: a ZeroMQ coordinator and pulling workers (devlog 004).

:mod:`~schedsim.live.zmq.protocol` (messages, heartbeat and retry parameters),
:mod:`~schedsim.live.zmq.coordinator` (ROUTER: the bag, requeues, the journal),
:mod:`~schedsim.live.zmq.worker` (DEALER: one node's slots running the native task) and
:mod:`~schedsim.live.zmq.runner` (:class:`ZmqLive`, the live platform interface). See
docs/live.md. Nothing is imported here: the coordinator and workers run as their own processes.
"""
