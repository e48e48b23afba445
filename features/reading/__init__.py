"""Reading an export as it is (folder or DuckDB file), mapping it to the contract, typing it, validating it."""
