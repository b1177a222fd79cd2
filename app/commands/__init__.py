"""``roomtone`` subcommands: each module exposes ``register(subparsers)`` and ``run(args) -> int``.

``register`` adds the subcommand's parser and calls ``set_defaults(func=run)``; ``app.cli``
loads the modules named in :data:`app.cli.COMMANDS` that exist.
"""
