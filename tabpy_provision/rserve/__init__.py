"""Rserve, Tableau's R analytics extension: QAP1 client, password file, config and unit."""
