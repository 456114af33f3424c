"""The Kubernetes cluster of scripts/k8s.sh, for the tests that run SparkApplications on it."""

from tests.k8s.cluster_support import k8s_cluster

__all__ = ["k8s_cluster"]
