"""The package version, in a module of its own so that any layer can record it (manifest.json)
without importing the package's top level, which imports everything."""

__version__ = "0.1.0"
