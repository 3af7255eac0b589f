"""Prefect flows of parindex and the command-line shell over them."""
