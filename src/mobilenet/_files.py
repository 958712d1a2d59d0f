"""Checks shared by everything that opens a user's file (models, labels, images)."""
import os


def existing_file(path, what: str) -> str:
    """path as a str; FileNotFoundError if it does not exist, ValueError if it is a directory."""
    path = os.fsdecode(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a {what}")
    return path
