"""Spec sources (layer 3 adapter): where a spec tree comes from, and which revision it is."""
