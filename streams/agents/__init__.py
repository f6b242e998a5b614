"""One module per worker role (orderflow/roles.py): the agents, tables and pages of that role."""
