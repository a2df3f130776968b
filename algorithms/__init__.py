"""Code that runs inside training and inference containers.

Imports nothing of the platform (infra, catalog, tasks, flows): only its own shared base and third-party
libraries, so the container image needs no platform code beyond this package.
"""
