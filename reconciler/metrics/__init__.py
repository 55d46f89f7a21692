"""Metrics adapters (layer 3): task samples for the autoscaler, from Mesos agents' statistics or
Prometheus. Each source translates its wire format into the core's TaskSample values (see
reconciler/metrics/sources.py for the interface)."""
