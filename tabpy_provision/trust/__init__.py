"""The clients' trust in TabPy's certificates: what each client must trust (plan), and its
pyinfra side: facts, operations (macOS keychains) and the @deploy (deploy)."""
