"""The HTTP server (face layer): health, readiness, Prometheus metrics, status and the git webhook."""
