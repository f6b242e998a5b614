"""Shared plumbing for OrderFlow: configuration, the public topic map, logging and the CLI."""
