"""Built-in plugins (installed as ``colorbench.plugins``): model adapters and analyses.

Each module registers through the ``colorbench`` entry-point group, exactly as a
third-party package would.
"""
