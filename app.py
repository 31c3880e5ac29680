"""Red Kapok command line: ``python app.py demo | run | consume | engine | serve | simulate | users``.

Also installed as the ``red-kapok`` console script. See the README and contracts §3.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; errors print one clear line and exit non-zero."""
    from kapok.commands import run_cli

    return run_cli(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
