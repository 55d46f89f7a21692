"""The engine (layer 4): observe, plan, execute, the one sync behind plan/apply/cycles, and the controller.

It reaches the adapters through the small Protocols in `ports`, so tests and the CLI can hand it
real clients pointed at the sandbox or at a real cluster.
"""
