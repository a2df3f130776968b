"""Container runtimes: one interface, backends looked up by name in one registry."""
