"""python -m tabpy_provision.platforms --write-docs: the support table into docs/platforms.md
and the README."""

import sys
from pathlib import Path

from tabpy_provision.platforms import TABLE_BEGIN, with_support_table

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = (ROOT / "docs" / "platforms.md", ROOT / "README.md")

if sys.argv[1:] != ["--write-docs"]:
    sys.exit("usage: python -m tabpy_provision.platforms --write-docs")
for document in DOCUMENTS:
    text = document.read_text()
    if TABLE_BEGIN not in text:
        sys.exit(f"{document}: no support table marker ({TABLE_BEGIN})")
    document.write_text(with_support_table(text))
