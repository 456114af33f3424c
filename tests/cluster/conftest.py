"""One standalone cluster (scripts/cluster.sh) for every test of this folder."""

from tests.cluster.support import cluster

__all__ = ["cluster"]
