"""``python -m auditor ...`` (also the entry point under ``torchrun``)."""

from auditor.cli import main

main()
