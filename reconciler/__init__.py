"""marathon-reconciler: a Kubernetes-style reconciling operator for Marathon and Consul.

Layers (imports point downward only) are drawn in docs/architecture.md and enforced by
import-linter contracts in pyproject.toml.
"""

__version__ = "0.1.0"
