"""One module per sub-command (``<name>_command.py``), imported only when that command runs."""
