"""ChainMatch marketplace: the domain (firms, demands, matches), its storage and its CLI."""

__version__ = "0.1.0"
