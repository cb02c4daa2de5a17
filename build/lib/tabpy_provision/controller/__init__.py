"""The controller's own state (private CA, generated secrets, wheelhouses, trust artifacts):
staged while a run checks, written only by a real run once every check passed, and kept
safe beyond the controller (encrypted state backups)."""
