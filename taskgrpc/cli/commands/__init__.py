"""One module per subcommand. Each has ``add_parser(sub, parents)``, which adds its parser
and sets ``func``; :data:`taskgrpc.cli.parser.COMMANDS` lists them, in help order."""
