"""Marathon adapter (layer 3): an async httpx client for REST API v2, its wire models, and the
translation of what it reads into the core vocabulary (`Actual`, `ActualApp`, `ActualDeployment`).
"""

from reconciler.marathon.client import MarathonClient
from reconciler.marathon.errors import NotFound
from reconciler.marathon.settings import MarathonAuth, Timeouts

__all__ = ["MarathonAuth", "MarathonClient", "NotFound", "Timeouts"]
