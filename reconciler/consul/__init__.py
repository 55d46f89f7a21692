"""Consul adapter (layer 3): the async HTTP client, its wire models and errors, and the translation
of Consul's answers into the core vocabulary (ServiceInstance, ObservedQuery) and back."""
