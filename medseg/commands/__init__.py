"""Subcommands of the ``medseg`` console script (one module each; see ``medseg.cli``)."""
