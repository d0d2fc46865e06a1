"""One module per command group; each registers its subparsers with set_defaults(func=...)."""
