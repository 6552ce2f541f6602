"""`python -m chatbot` runs the CLI."""

import sys

from chatbot.cli import main

sys.exit(main())
