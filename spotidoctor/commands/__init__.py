"""The command line's handlers: one module per subcommand, each ``run(options) -> int``
with its typed options (``commands.options``); the engine does the work."""
