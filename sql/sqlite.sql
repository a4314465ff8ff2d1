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
	account_id VARCHAR(64) DEFAULT 'default' NOT NULL, 
	order_item_id VARCHAR(64) NOT NULL, 
	sku VARCHAR(64) NOT NULL, 
	title VARCHAR(1024), 
	qty_ordered INTEGER NOT NULL, 
	qty_shipped INTEGER NOT NULL, 
	unit_price VARCHAR(24), 
	gift_message TEXT, 
	last_updated DATETIME NOT NULL, 
	item_amount VARCHAR(24), 
	shipping_amount VARCHAR(24), 
	gift_wrap_amount VARCHAR(24), 
	cod_fee_amount VARCHAR(24), 
	other_amount VARCHAR(24), 
	tax_amount VARCHAR(24), 
	item_tax VARCHAR(24), 
	shipping_tax VARCHAR(24), 
	gift_wrap_tax VARCHAR(24), 
	cod_fee_tax VARCHAR(24), 
	other_tax VARCHAR(24), 
	discount_amount VARCHAR(24), 
	item_discount VARCHAR(24), 
	shipping_discount VARCHAR(24), 
	other_discount VARCHAR(24), 
	proceeds_total VARCHAR(24), 
	promotion_ids VARCHAR(1024), 
	tax_collection_model VARCHAR(64), 
	tax_reporting_scheme VARCHAR(16), 
	cancel_requested_by VARCHAR(16), 
	cancel_request_reason VARCHAR(255), 
	cancelled_by VARCHAR(16), 
	cancel_reason VARCHAR(255), 
	qty_canceled INTEGER DEFAULT '0' NOT NULL, 
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
	account_id VARCHAR(64) DEFAULT 'default' NOT NULL, 
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
	account_id VARCHAR(64) DEFAULT 'default' NOT NULL, 
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
	CONSTRAINT uq_sync_run_account_marketplace UNIQUE (account_id, run_id, marketplace_id)
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
	base_subtotal VARCHAR(24), 
	subtotal_incl_tax VARCHAR(24), 
	base_subtotal_incl_tax VARCHAR(24), 
	tax_amount VARCHAR(24) NOT NULL, 
	base_tax_amount VARCHAR(24), 
	shipping_amount VARCHAR(24) NOT NULL, 
	base_shipping_amount VARCHAR(24), 
	shipping_tax_amount VARCHAR(24), 
	base_shipping_tax_amount VARCHAR(24), 
	shipping_incl_tax VARCHAR(24), 
	base_shipping_incl_tax VARCHAR(24), 
	discount_amount VARCHAR(24), 
	base_discount_amount VARCHAR(24), 
	shipping_discount_amount VARCHAR(24), 
	base_shipping_discount_amount VARCHAR(24), 
	gw_price VARCHAR(24), 
	gw_base_price VARCHAR(24), 
	gw_tax_amount VARCHAR(24), 
	gw_base_tax_amount VARCHAR(24), 
	amazon_cod_fee VARCHAR(24), 
	base_amazon_cod_fee VARCHAR(24), 
	amazon_cod_fee_tax VARCHAR(24), 
	base_amazon_cod_fee_tax VARCHAR(24), 
	amazon_other_charges VARCHAR(24), 
	base_amazon_other_charges VARCHAR(24), 
	amazon_delivery_tip VARCHAR(24), 
	base_amazon_delivery_tip VARCHAR(24), 
	grand_total VARCHAR(24) NOT NULL, 
	base_grand_total VARCHAR(24), 
	amazon_delivery_tip_status VARCHAR(16), 
	order_currency_code VARCHAR(3) NOT NULL, 
	base_currency_code VARCHAR(3), 
	base_to_order_rate VARCHAR(24), 
	total_invoiced VARCHAR(24), 
	base_total_invoiced VARCHAR(24), 
	total_paid VARCHAR(24), 
	base_total_paid VARCHAR(24), 
	total_refunded VARCHAR(24), 
	base_total_refunded VARCHAR(24), 
	customer_taxvat VARCHAR(128), 
	amazon_account_id VARCHAR(64), 
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

CREATE TABLE channel_amazon_cancellation (
	id INTEGER NOT NULL, 
	amazon_order_id VARCHAR(32) NOT NULL, 
	account_id VARCHAR(64) DEFAULT 'default' NOT NULL, 
	marketplace_id VARCHAR(32) NOT NULL, 
	sales_order_id INTEGER NOT NULL, 
	reason VARCHAR(64) NOT NULL, 
	items TEXT NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	feed_document_id VARCHAR(255), 
	feed_id VARCHAR(64), 
	message_id INTEGER, 
	attempts INTEGER NOT NULL, 
	last_error VARCHAR(1024), 
	requested_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (amazon_order_id), 
	FOREIGN KEY(sales_order_id) REFERENCES sales_order (entity_id)
);

CREATE INDEX ix_cancellation_feed ON channel_amazon_cancellation (feed_id);

CREATE INDEX ix_cancellation_state ON channel_amazon_cancellation (state);

CREATE TABLE channel_amazon_order (
	id INTEGER NOT NULL, 
	amazon_order_id VARCHAR(32) NOT NULL, 
	account_id VARCHAR(64) DEFAULT 'default' NOT NULL, 
	marketplace_id VARCHAR(32) NOT NULL, 
	store_id INTEGER, 
	status VARCHAR(32) NOT NULL, 
	fulfillment_channel VARCHAR(3) NOT NULL, 
	purchase_date DATETIME NOT NULL, 
	last_updated DATETIME NOT NULL, 
	latest_ship_date DATETIME, 
	deliver_by DATETIME, 
	buyer_email TEXT, 
	buyer_name TEXT, 
	buyer_company VARCHAR(255), 
	ship_name TEXT, 
	ship_street TEXT, 
	ship_city TEXT, 
	ship_region VARCHAR(255), 
	ship_postcode VARCHAR(32), 
	ship_country VARCHAR(2), 
	ship_phone TEXT, 
	is_prime BOOLEAN NOT NULL, 
	is_business BOOLEAN NOT NULL, 
	subtotal VARCHAR(24), 
	grand_total VARCHAR(24), 
	currency VARCHAR(3), 
	delivery_tip VARCHAR(24), 
	delivery_tip_status VARCHAR(16), 
	purchase_order_number VARCHAR(64), 
	buyer_tax_registration VARCHAR(128), 
	items_unshipped INTEGER NOT NULL, 
	sales_order_id INTEGER, 
	sales_order_increment_id VARCHAR(64), 
	note VARCHAR(1024), 
	amazon_package_refs VARCHAR(1024), 
	cancel_requested BOOLEAN DEFAULT '0' NOT NULL, 
	cancel_request_reason VARCHAR(255), 
	hold_released_at DATETIME, 
	buyer_data_erased_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (amazon_order_id), 
	FOREIGN KEY(sales_order_id) REFERENCES sales_order (entity_id)
);

CREATE INDEX ix_channel_order_account ON channel_amazon_order (account_id, marketplace_id);

CREATE INDEX ix_channel_order_purchase ON channel_amazon_order (purchase_date);

CREATE INDEX ix_channel_order_status ON channel_amazon_order (status, sales_order_id);

CREATE TABLE sales_invoice (
	entity_id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	store_id INTEGER NOT NULL, 
	increment_id VARCHAR(64) NOT NULL, 
	state INTEGER NOT NULL, 
	subtotal VARCHAR(24) NOT NULL, 
	base_subtotal VARCHAR(24) NOT NULL, 
	subtotal_incl_tax VARCHAR(24) NOT NULL, 
	base_subtotal_incl_tax VARCHAR(24) NOT NULL, 
	tax_amount VARCHAR(24) NOT NULL, 
	base_tax_amount VARCHAR(24) NOT NULL, 
	shipping_amount VARCHAR(24) NOT NULL, 
	base_shipping_amount VARCHAR(24) NOT NULL, 
	shipping_tax_amount VARCHAR(24) NOT NULL, 
	base_shipping_tax_amount VARCHAR(24) NOT NULL, 
	shipping_incl_tax VARCHAR(24) NOT NULL, 
	base_shipping_incl_tax VARCHAR(24) NOT NULL, 
	discount_amount VARCHAR(24) NOT NULL, 
	base_discount_amount VARCHAR(24) NOT NULL, 
	shipping_discount_amount VARCHAR(24) NOT NULL, 
	base_shipping_discount_amount VARCHAR(24) NOT NULL, 
	gw_price VARCHAR(24) NOT NULL, 
	gw_base_price VARCHAR(24) NOT NULL, 
	gw_tax_amount VARCHAR(24) NOT NULL, 
	gw_base_tax_amount VARCHAR(24) NOT NULL, 
	amazon_cod_fee VARCHAR(24) NOT NULL, 
	base_amazon_cod_fee VARCHAR(24) NOT NULL, 
	amazon_cod_fee_tax VARCHAR(24) NOT NULL, 
	base_amazon_cod_fee_tax VARCHAR(24) NOT NULL, 
	amazon_other_charges VARCHAR(24) NOT NULL, 
	base_amazon_other_charges VARCHAR(24) NOT NULL, 
	amazon_delivery_tip VARCHAR(24) NOT NULL, 
	base_amazon_delivery_tip VARCHAR(24) NOT NULL, 
	grand_total VARCHAR(24) NOT NULL, 
	base_grand_total VARCHAR(24) NOT NULL, 
	order_currency_code VARCHAR(3) NOT NULL, 
	base_currency_code VARCHAR(3) NOT NULL, 
	total_qty INTEGER NOT NULL, 
	email_sent BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (entity_id), 
	CONSTRAINT uq_sales_invoice_increment_store UNIQUE (increment_id, store_id), 
	FOREIGN KEY(order_id) REFERENCES sales_order (entity_id)
);

CREATE INDEX ix_sales_invoice_order ON sales_invoice (order_id);

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
	qty_invoiced INTEGER DEFAULT '0' NOT NULL, 
	qty_refunded INTEGER DEFAULT '0' NOT NULL, 
	price VARCHAR(24) NOT NULL, 
	base_price VARCHAR(24), 
	price_incl_tax VARCHAR(24), 
	base_price_incl_tax VARCHAR(24), 
	row_total VARCHAR(24) NOT NULL, 
	base_row_total VARCHAR(24), 
	row_total_incl_tax VARCHAR(24), 
	base_row_total_incl_tax VARCHAR(24), 
	tax_amount VARCHAR(24), 
	base_tax_amount VARCHAR(24), 
	discount_amount VARCHAR(24), 
	base_discount_amount VARCHAR(24), 
	tax_percent VARCHAR(24), 
	amazon_tax_collection_model VARCHAR(64), 
	amazon_tax_reporting_scheme VARCHAR(16), 
	gift_message TEXT, 
	PRIMARY KEY (item_id), 
	CONSTRAINT uq_sales_order_item_ext UNIQUE (order_id, ext_order_item_id), 
	FOREIGN KEY(order_id) REFERENCES sales_order (entity_id), 
	FOREIGN KEY(product_id) REFERENCES catalog_product (entity_id)
);

CREATE TABLE sales_order_payment (
	entity_id INTEGER NOT NULL, 
	parent_id INTEGER NOT NULL, 
	method VARCHAR(128) NOT NULL, 
	amount_ordered VARCHAR(24) NOT NULL, 
	base_amount_ordered VARCHAR(24) NOT NULL, 
	amount_paid VARCHAR(24) NOT NULL, 
	base_amount_paid VARCHAR(24) NOT NULL, 
	amount_refunded VARCHAR(24), 
	base_amount_refunded VARCHAR(24), 
	po_number VARCHAR(64), 
	PRIMARY KEY (entity_id), 
	UNIQUE (parent_id), 
	FOREIGN KEY(parent_id) REFERENCES sales_order (entity_id)
);

CREATE TABLE sales_order_status_history (
	entity_id INTEGER NOT NULL, 
	parent_id INTEGER NOT NULL, 
	entity_name VARCHAR(32) NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	comment TEXT NOT NULL, 
	is_customer_notified BOOLEAN NOT NULL, 
	is_visible_on_front BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (entity_id), 
	CONSTRAINT uq_status_history_event UNIQUE (parent_id, entity_name), 
	FOREIGN KEY(parent_id) REFERENCES sales_order (entity_id)
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

CREATE TABLE sales_creditmemo (
	entity_id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	store_id INTEGER NOT NULL, 
	increment_id VARCHAR(64) NOT NULL, 
	state INTEGER NOT NULL, 
	invoice_id INTEGER NOT NULL, 
	subtotal VARCHAR(24) NOT NULL, 
	base_subtotal VARCHAR(24) NOT NULL, 
	subtotal_incl_tax VARCHAR(24) NOT NULL, 
	base_subtotal_incl_tax VARCHAR(24) NOT NULL, 
	tax_amount VARCHAR(24) NOT NULL, 
	base_tax_amount VARCHAR(24) NOT NULL, 
	shipping_amount VARCHAR(24) NOT NULL, 
	base_shipping_amount VARCHAR(24) NOT NULL, 
	shipping_tax_amount VARCHAR(24) NOT NULL, 
	base_shipping_tax_amount VARCHAR(24) NOT NULL, 
	shipping_incl_tax VARCHAR(24) NOT NULL, 
	base_shipping_incl_tax VARCHAR(24) NOT NULL, 
	discount_amount VARCHAR(24) NOT NULL, 
	base_discount_amount VARCHAR(24) NOT NULL, 
	shipping_discount_amount VARCHAR(24) NOT NULL, 
	base_shipping_discount_amount VARCHAR(24) NOT NULL, 
	gw_price VARCHAR(24) NOT NULL, 
	gw_base_price VARCHAR(24) NOT NULL, 
	gw_tax_amount VARCHAR(24) NOT NULL, 
	gw_base_tax_amount VARCHAR(24) NOT NULL, 
	amazon_cod_fee VARCHAR(24) NOT NULL, 
	base_amazon_cod_fee VARCHAR(24) NOT NULL, 
	amazon_cod_fee_tax VARCHAR(24) NOT NULL, 
	base_amazon_cod_fee_tax VARCHAR(24) NOT NULL, 
	amazon_other_charges VARCHAR(24) NOT NULL, 
	base_amazon_other_charges VARCHAR(24) NOT NULL, 
	amazon_delivery_tip VARCHAR(24) NOT NULL, 
	base_amazon_delivery_tip VARCHAR(24) NOT NULL, 
	grand_total VARCHAR(24) NOT NULL, 
	base_grand_total VARCHAR(24) NOT NULL, 
	order_currency_code VARCHAR(3) NOT NULL, 
	base_currency_code VARCHAR(3) NOT NULL, 
	total_qty INTEGER NOT NULL, 
	email_sent BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (entity_id), 
	CONSTRAINT uq_sales_creditmemo_increment_store UNIQUE (increment_id, store_id), 
	FOREIGN KEY(order_id) REFERENCES sales_order (entity_id), 
	FOREIGN KEY(invoice_id) REFERENCES sales_invoice (entity_id)
);

CREATE INDEX ix_sales_creditmemo_order ON sales_creditmemo (order_id);

CREATE TABLE sales_invoice_item (
	entity_id INTEGER NOT NULL, 
	parent_id INTEGER NOT NULL, 
	order_item_id INTEGER NOT NULL, 
	sku VARCHAR(64) NOT NULL, 
	name VARCHAR(255), 
	qty INTEGER NOT NULL, 
	price VARCHAR(24) NOT NULL, 
	base_price VARCHAR(24) NOT NULL, 
	price_incl_tax VARCHAR(24) NOT NULL, 
	base_price_incl_tax VARCHAR(24) NOT NULL, 
	row_total VARCHAR(24) NOT NULL, 
	base_row_total VARCHAR(24) NOT NULL, 
	row_total_incl_tax VARCHAR(24) NOT NULL, 
	base_row_total_incl_tax VARCHAR(24) NOT NULL, 
	tax_amount VARCHAR(24) NOT NULL, 
	base_tax_amount VARCHAR(24) NOT NULL, 
	discount_amount VARCHAR(24) NOT NULL, 
	base_discount_amount VARCHAR(24) NOT NULL, 
	PRIMARY KEY (entity_id), 
	CONSTRAINT uq_sales_invoice_item_order_item UNIQUE (parent_id, order_item_id), 
	FOREIGN KEY(parent_id) REFERENCES sales_invoice (entity_id)
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
	account_id VARCHAR(64) DEFAULT 'default' NOT NULL, 
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

CREATE TABLE sales_creditmemo_item (
	entity_id INTEGER NOT NULL, 
	parent_id INTEGER NOT NULL, 
	order_item_id INTEGER NOT NULL, 
	sku VARCHAR(64) NOT NULL, 
	name VARCHAR(255), 
	qty INTEGER NOT NULL, 
	price VARCHAR(24) NOT NULL, 
	base_price VARCHAR(24) NOT NULL, 
	price_incl_tax VARCHAR(24) NOT NULL, 
	base_price_incl_tax VARCHAR(24) NOT NULL, 
	row_total VARCHAR(24) NOT NULL, 
	base_row_total VARCHAR(24) NOT NULL, 
	row_total_incl_tax VARCHAR(24) NOT NULL, 
	base_row_total_incl_tax VARCHAR(24) NOT NULL, 
	tax_amount VARCHAR(24) NOT NULL, 
	base_tax_amount VARCHAR(24) NOT NULL, 
	discount_amount VARCHAR(24) NOT NULL, 
	base_discount_amount VARCHAR(24) NOT NULL, 
	PRIMARY KEY (entity_id), 
	CONSTRAINT uq_sales_creditmemo_item_order_item UNIQUE (parent_id, order_item_id), 
	FOREIGN KEY(parent_id) REFERENCES sales_creditmemo (entity_id)
);
