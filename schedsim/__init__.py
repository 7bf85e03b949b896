"""schedsim: a SimPy simulator of bags of tasks on Work Queue, Ray and ideal platforms.

It projects makespan, throughput, cost and robustness of a bag of tasks spread over pools of
nodes that come and go (spot churn), with confidence intervals over replications and an
analytic bound naming the resource that limits the run.
"""

__version__ = "0.1.0"
