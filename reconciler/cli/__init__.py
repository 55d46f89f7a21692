"""The command-line face (layer 5): a Typer app, one module per command.

It is the only place that builds real adapters, and (for `reconciler sandbox`) the only part of the
package that may import the sandbox.
"""
