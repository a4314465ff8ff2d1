"""The Commerce database: schema, dialect-aware bulk writes, the loaders, and shipments as staff record them."""
