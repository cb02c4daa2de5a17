"""A TabPy server: its checked plan (plan), the certificate it serves (certificate), its
password file (passwords), what one process may use (limits), the protocols and ciphers of its
listeners (tls_profile), its releases (release, render), the check Tableau and a client do
(verify, client_check), and its pyinfra side: facts, operations, rolling processes (roll) and its
@deploy (deploy)."""
