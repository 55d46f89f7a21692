"""Embedded emulators of Marathon's (and later Consul's) HTTP APIs on loopback (sandbox layer).

Used by the CLI's `sandbox` command and by the tests; layers 1 to 5 never import this package.
"""
