"""Checks shared by everything that opens a user's file (models, labels, images)."""
import os
from typing import Union

# What open() takes as a file name.
FilePath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


def existing_file(path: FilePath, what: str) -> str:
    """path as a str; FileNotFoundError if it does not exist, ValueError if it is a directory."""
    name = os.fsdecode(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"{what} not found: {name}")
    if os.path.isdir(name):
        raise ValueError(f"{name} is a directory, not a {what}")
    return name
