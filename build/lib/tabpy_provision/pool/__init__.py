"""The pool: HAProxy in front of TabPy processes (a pool balancer of group tabpy_lb, or a host's
own for several processes) and keepalived holding the pool's address. balancer: the pure plan
(config, certificates, memberships, runtime commands); operations: its pyinfra side."""
