"""Task runtimes of the sandbox (sandbox layer): how a simulated task shows itself on the network.

`simulated` opens a real TCP listener per task port on the agent's loopback address.
"""
