"""Plain functions that own reads and writes of the domain; the CLI and the web views call them."""
