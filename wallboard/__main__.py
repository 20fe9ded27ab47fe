"""Run `wallboard` as `python -m wallboard`."""

from wallboard.cli import main

raise SystemExit(main())
