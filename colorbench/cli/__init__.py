"""The ``colorbench`` command line: sub-commands, shared option types and terminal display."""
