"""The local stack: AWS emulation, Oliver sandbox, API emulation and console (`make dev`)."""
