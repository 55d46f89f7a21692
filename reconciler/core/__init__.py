"""Pure core (layer 2): the shared vocabulary and the pure decisions (diff, plan, heal, autoscale).

No I/O, no clock, no randomness, no logging: time and limits are parameters.
"""
