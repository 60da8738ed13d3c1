"""Entry point for ``python -m marketplace``."""

from marketplace.cli import main

if __name__ == "__main__":
    main()
