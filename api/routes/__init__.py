"""The API's routes, one module per resource: orders, inventory, analytics, and the
operational ones (health, metrics, the live page)."""
