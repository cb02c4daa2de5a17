"""Backups and restores of a TabPy host's state: the archive and its proof (archive), format 2's
encryption (archive_encryption), what its tar may hold (archive_members), the commands on the host
(commands), and the @deploy (deploy)."""
