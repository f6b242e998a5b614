"""One module per worker role (streams/roles.py): the agents, tables and pages of that role."""
