"""The Commerce database: schema, dialect-aware bulk writes, and the loaders."""
