"""The history store flag that apply and approve share (face layer).

Apart from the commands, so that naming the flag does not import the store (SQLModel, SQLAlchemy):
`apply` opens the store only when an environment in scope requires an approval.
"""

from __future__ import annotations

from typing import Annotated

import typer

DatabaseOpt = Annotated[str | None, typer.Option(help="History store: a SQLite file path or a postgresql+psycopg://"
                                                     " URL (default: the file `reconciler run` writes).")]
