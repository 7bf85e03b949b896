"""SimPy entities shared by every platform: workload, cluster nodes, churn and network links."""
