"""``python -m sockjet``: the same as the ``sockjet`` command."""

from sockjet.cli import console_main

if __name__ == "__main__":
    console_main()
