"""Read models: the views of the agreements, the runner that keeps them current, and the queries on them."""
