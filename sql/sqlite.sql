-- Commerce database schema for sqlite, generated from amazon_channel.commerce.schema.
-- Regenerate with `make ddl`; a test fails when this file and the schema disagree.

CREATE TABLE catalog_product (
	entity_id INTEGER NOT NULL, 
	sku VARCHAR(64) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	enabled BOOLEAN NOT NULL, 
	qty NUMERIC(12, 4) NOT NULL, 
	manage_stock BOOLEAN NOT NULL, 
	PRIMARY KEY (entity_id), 
	UNIQUE (sku)
);

CREATE TABLE channel_amazon_order_item (
	id INTEGER NOT NULL, 
	amazon_order_id VARCHAR(32) NOT NULL, 
	order_item_id VARCHAR(64) NOT NULL, 
	sku VARCHAR(64) NOT NULL, 
	title VARCHAR(1024), 
	qty_ordered INTEGER NOT NULL, 
	qty_shipped INTEGER NOT NULL, 
	unit_price VARCHAR(24), 
	gift_message TEXT, 
	last_updated DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_channel_item UNIQUE (amazon_order_id, order_item_id)
);

CREATE TABLE channel_amazon_order_note (
	id INTEGER NOT NULL, 
	amazon_order_id VARCHAR(32) NOT NULL, 
	noted_at DATETIME NOT NULL, 
	note VARCHAR(1024) NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_order_note_order ON channel_amazon_order_note (amazon_order_id);

CREATE TABLE channel_amazon_quarantine (
	id INTEGER NOT NULL, 
	quarantine_key VARCHAR(64) NOT NULL, 
	amazon_order_id VARCHAR(64), 
	reasons TEXT NOT NULL, 
	payload TEXT NOT NULL, 
	first_seen_run VARCHAR(255) NOT NULL, 
	last_seen_run VARCHAR(255) NOT NULL, 
	resolved BOOLEAN NOT NULL, 
	resolution VARCHAR(255), 
	PRIMARY KEY (id), 
	UNIQUE (quarantine_key)
);

CREATE TABLE channel_amazon_sync_run (
	id INTEGER NOT NULL, 
	run_id VARCHAR(255) NOT NULL, 
	marketplace_id VARCHAR(32) NOT NULL, 
	window_start DATETIME NOT NULL, 
	window_end DATETIME NOT NULL, 
	orders_seen INTEGER NOT NULL, 
	commerce_orders_created INTEGER NOT NULL, 
	orders_blocked INTEGER NOT NULL, 
	api_calls INTEGER NOT NULL, 
	throttled INTEGER NOT NULL, 
	finished_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_sync_run_marketplace UNIQUE (run_id, marketplace_id)
);

CREATE INDEX ix_sync_run_window ON channel_amazon_sync_run (marketplace_id, window_end);

CREATE TABLE customer_entity (
	entity_id INTEGER NOT NULL, 
	website_id INTEGER NOT NULL, 
	email VARCHAR(255) NOT NULL, 
	firstname VARCHAR(255), 
	lastname VARCHAR(255), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (entity_id), 
	CONSTRAINT uq_customer_email_website UNIQUE (email, website_id)
);

CREATE TABLE inventory_reservation (
	reservation_id INTEGER NOT NULL, 
	sku VARCHAR(64) NOT NULL, 
	quantity NUMERIC(12, 4) NOT NULL, 
	ext_order_id VARCHAR(64) NOT NULL, 
	event VARCHAR(32) NOT NULL, 
	PRIMARY KEY (reservation_id), 
	CONSTRAINT uq_reservation_order_sku_event UNIQUE (ext_order_id, sku, event)
);

CREATE TABLE sales_sequence (
	store_id INTEGER NOT NULL, 
	last_value INTEGER NOT NULL, 
	PRIMARY KEY (store_id)
);

CREATE TABLE store (
	store_id INTEGER NOT NULL, 
	website_id INTEGER NOT NULL, 
	code VARCHAR(32) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	PRIMARY KEY (store_id), 
	UNIQUE (code)
);

CREATE TABLE sales_order (
	entity_id INTEGER NOT NULL, 
	increment_id VARCHAR(64) NOT NULL, 
	store_id INTEGER NOT NULL, 
	state VARCHAR(32) NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	customer_id INTEGER, 
	customer_is_guest BOOLEAN NOT NULL, 
	customer_email VARCHAR(255) NOT NULL, 
	customer_firstname VARCHAR(255), 
	customer_lastname VARCHAR(255), 
	subtotal VARCHAR(24) NOT NULL, 
	tax_amount VARCHAR(24) NOT NULL, 
	shipping_amount VARCHAR(24) NOT NULL, 
	grand_total VARCHAR(24) NOT NULL, 
	order_currency_code VARCHAR(3) NOT NULL, 
	total_qty_ordered INTEGER NOT NULL, 
	ext_order_id VARCHAR(64) NOT NULL, 
	send_email BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (entity_id), 
	CONSTRAINT uq_sales_order_increment_store UNIQUE (increment_id, store_id), 
	FOREIGN KEY(customer_id) REFERENCES customer_entity (entity_id), 
	UNIQUE (ext_order_id)
);

CREATE TABLE channel_amazon_order (
	id INTEGER NOT NULL, 
	amazon_order_id VARCHAR(32) NOT NULL, 
	marketplace_id VARCHAR(32) NOT NULL, 
	store_id INTEGER, 
	status VARCHAR(32) NOT NULL, 
	fulfillment_channel VARCHAR(3) NOT NULL, 
	purchase_date DATETIME NOT NULL, 
	last_updated DATETIME NOT NULL, 
	latest_ship_date DATETIME, 
	buyer_email VARCHAR(255), 
	buyer_name VARCHAR(255), 
	buyer_company VARCHAR(255), 
	ship_name VARCHAR(255), 
	ship_street VARCHAR(1024), 
	ship_city VARCHAR(255), 
	ship_region VARCHAR(255), 
	ship_postcode VARCHAR(32), 
	ship_country VARCHAR(2), 
	ship_phone VARCHAR(64), 
	is_prime BOOLEAN NOT NULL, 
	is_business BOOLEAN NOT NULL, 
	subtotal VARCHAR(24), 
	grand_total VARCHAR(24), 
	currency VARCHAR(3), 
	items_unshipped INTEGER NOT NULL, 
	sales_order_id INTEGER, 
	sales_order_increment_id VARCHAR(64), 
	note VARCHAR(1024), 
	amazon_package_refs VARCHAR(1024), 
	PRIMARY KEY (id), 
	UNIQUE (amazon_order_id), 
	FOREIGN KEY(sales_order_id) REFERENCES sales_order (entity_id)
);

CREATE INDEX ix_channel_order_purchase ON channel_amazon_order (purchase_date);

CREATE INDEX ix_channel_order_status ON channel_amazon_order (status, sales_order_id);

CREATE TABLE sales_order_address (
	entity_id INTEGER NOT NULL, 
	parent_id INTEGER NOT NULL, 
	address_type VARCHAR(16) NOT NULL, 
	firstname VARCHAR(255), 
	lastname VARCHAR(255), 
	company VARCHAR(255), 
	street VARCHAR(1024), 
	city VARCHAR(255), 
	region VARCHAR(255), 
	postcode VARCHAR(32), 
	country_id VARCHAR(2), 
	telephone VARCHAR(64), 
	email VARCHAR(255), 
	is_placeholder BOOLEAN NOT NULL, 
	PRIMARY KEY (entity_id), 
	CONSTRAINT uq_sales_order_address_type UNIQUE (parent_id, address_type), 
	FOREIGN KEY(parent_id) REFERENCES sales_order (entity_id)
);

CREATE TABLE sales_order_item (
	item_id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	ext_order_item_id VARCHAR(64) NOT NULL, 
	sku VARCHAR(64) NOT NULL, 
	name VARCHAR(255), 
	product_id INTEGER, 
	qty_ordered INTEGER NOT NULL, 
	qty_shipped INTEGER NOT NULL, 
	qty_canceled INTEGER NOT NULL, 
	price VARCHAR(24) NOT NULL, 
	row_total VARCHAR(24) NOT NULL, 
	gift_message TEXT, 
	PRIMARY KEY (item_id), 
	CONSTRAINT uq_sales_order_item_ext UNIQUE (order_id, ext_order_item_id), 
	FOREIGN KEY(order_id) REFERENCES sales_order (entity_id), 
	FOREIGN KEY(product_id) REFERENCES catalog_product (entity_id)
);

CREATE TABLE sales_shipment (
	entity_id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	increment_id VARCHAR(64) NOT NULL, 
	total_qty INTEGER NOT NULL, 
	email_sent BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (entity_id), 
	FOREIGN KEY(order_id) REFERENCES sales_order (entity_id), 
	UNIQUE (increment_id)
);

CREATE TABLE sales_shipment_item (
	entity_id INTEGER NOT NULL, 
	parent_id INTEGER NOT NULL, 
	order_item_id INTEGER NOT NULL, 
	sku VARCHAR(64) NOT NULL, 
	qty INTEGER NOT NULL, 
	PRIMARY KEY (entity_id), 
	CONSTRAINT uq_shipment_item UNIQUE (parent_id, order_item_id), 
	FOREIGN KEY(parent_id) REFERENCES sales_shipment (entity_id), 
	FOREIGN KEY(order_item_id) REFERENCES sales_order_item (item_id)
);

CREATE TABLE sales_shipment_track (
	entity_id INTEGER NOT NULL, 
	parent_id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	carrier_code VARCHAR(32) NOT NULL, 
	title VARCHAR(255), 
	track_number VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (entity_id), 
	FOREIGN KEY(parent_id) REFERENCES sales_shipment (entity_id), 
	FOREIGN KEY(order_id) REFERENCES sales_order (entity_id)
);

CREATE TABLE channel_amazon_package (
	id INTEGER NOT NULL, 
	amazon_order_id VARCHAR(32) NOT NULL, 
	marketplace_id VARCHAR(32) NOT NULL, 
	shipment_id INTEGER NOT NULL, 
	track_id INTEGER NOT NULL, 
	package_reference_id VARCHAR(20) NOT NULL, 
	carrier_code VARCHAR(64) NOT NULL, 
	carrier_name VARCHAR(255), 
	tracking_number VARCHAR(255) NOT NULL, 
	ship_date DATETIME NOT NULL, 
	items TEXT NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	last_error VARCHAR(1024), 
	amazon_request_id VARCHAR(64), 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_package_shipment_track UNIQUE (shipment_id, track_id), 
	CONSTRAINT uq_package_reference UNIQUE (amazon_order_id, package_reference_id), 
	FOREIGN KEY(shipment_id) REFERENCES sales_shipment (entity_id), 
	FOREIGN KEY(track_id) REFERENCES sales_shipment_track (entity_id)
);

CREATE INDEX ix_package_state ON channel_amazon_package (state);
