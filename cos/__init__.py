"""The `cos` command and local wiring: the CLI, the demo, a private Redis, web + worker."""
