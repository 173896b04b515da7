package wootest

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"

	"github.com/wcbridge/wcbridge/bridge"
)

// The DDL below is written from the column lists of WooCommerce's order data
// stores and WordPress core's schema.php (docs/woocommerce-tables.md §2). Every
// statement is its own Exec: the driver refuses multi-statements by default.
// Zero-date defaults are kept out: WordPress declares them, but neither
// MariaDB's NO_ZERO_DATE nor the embedded engine accept them everywhere, and
// every seeded row sets its dates explicitly.
var schema = []string{
	`CREATE TABLE {p}options (
  option_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  option_name varchar(191) NOT NULL DEFAULT '',
  option_value longtext NOT NULL,
  autoload varchar(20) NOT NULL DEFAULT 'yes',
  PRIMARY KEY (option_id),
  UNIQUE KEY option_name (option_name),
  KEY autoload (autoload)
)`,
	`CREATE TABLE {p}posts (
  ID bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  post_author bigint(20) unsigned NOT NULL DEFAULT 0,
  post_date datetime NOT NULL,
  post_date_gmt datetime NOT NULL,
  post_content longtext NOT NULL,
  post_title text NOT NULL,
  post_excerpt text NOT NULL,
  post_status varchar(20) NOT NULL DEFAULT 'publish',
  comment_status varchar(20) NOT NULL DEFAULT 'open',
  ping_status varchar(20) NOT NULL DEFAULT 'open',
  post_password varchar(255) NOT NULL DEFAULT '',
  post_name varchar(200) NOT NULL DEFAULT '',
  to_ping text NOT NULL,
  pinged text NOT NULL,
  post_modified datetime NOT NULL,
  post_modified_gmt datetime NOT NULL,
  post_content_filtered longtext NOT NULL,
  post_parent bigint(20) unsigned NOT NULL DEFAULT 0,
  guid varchar(255) NOT NULL DEFAULT '',
  menu_order int(11) NOT NULL DEFAULT 0,
  post_type varchar(20) NOT NULL DEFAULT 'post',
  post_mime_type varchar(100) NOT NULL DEFAULT '',
  comment_count bigint(20) NOT NULL DEFAULT 0,
  PRIMARY KEY (ID),
  KEY post_name (post_name(191)),
  KEY type_status_date (post_type, post_status, post_date, ID),
  KEY post_parent (post_parent),
  KEY post_author (post_author)
)`,
	`CREATE TABLE {p}postmeta (
  meta_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  post_id bigint(20) unsigned NOT NULL DEFAULT 0,
  meta_key varchar(255) DEFAULT NULL,
  meta_value longtext,
  PRIMARY KEY (meta_id),
  KEY post_id (post_id),
  KEY meta_key (meta_key(191))
)`,
	`CREATE TABLE {p}comments (
  comment_ID bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  comment_post_ID bigint(20) unsigned NOT NULL DEFAULT 0,
  comment_author tinytext NOT NULL,
  comment_author_email varchar(100) NOT NULL DEFAULT '',
  comment_author_url varchar(200) NOT NULL DEFAULT '',
  comment_author_IP varchar(100) NOT NULL DEFAULT '',
  comment_date datetime NOT NULL,
  comment_date_gmt datetime NOT NULL,
  comment_content text NOT NULL,
  comment_karma int(11) NOT NULL DEFAULT 0,
  comment_approved varchar(20) NOT NULL DEFAULT '1',
  comment_agent varchar(255) NOT NULL DEFAULT '',
  comment_type varchar(20) NOT NULL DEFAULT 'comment',
  comment_parent bigint(20) unsigned NOT NULL DEFAULT 0,
  user_id bigint(20) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (comment_ID),
  KEY comment_post_ID (comment_post_ID),
  KEY comment_approved_date_gmt (comment_approved, comment_date_gmt),
  KEY comment_date_gmt (comment_date_gmt),
  KEY comment_parent (comment_parent),
  KEY comment_author_email (comment_author_email(10))
)`,
	`CREATE TABLE {p}commentmeta (
  meta_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  comment_id bigint(20) unsigned NOT NULL DEFAULT 0,
  meta_key varchar(255) DEFAULT NULL,
  meta_value longtext,
  PRIMARY KEY (meta_id),
  KEY comment_id (comment_id),
  KEY meta_key (meta_key(191))
)`,
	`CREATE TABLE {p}wc_orders (
  id bigint(20) unsigned NOT NULL,
  status varchar(20) NULL,
  currency varchar(10) NULL,
  type varchar(20) NULL,
  tax_amount decimal(26,8) NULL,
  total_amount decimal(26,8) NULL,
  customer_id bigint(20) unsigned NULL,
  billing_email varchar(320) NULL,
  date_created_gmt datetime NULL,
  date_updated_gmt datetime NULL,
  parent_order_id bigint(20) unsigned NULL,
  payment_method varchar(100) NULL,
  payment_method_title text NULL,
  transaction_id varchar(100) NULL,
  ip_address varchar(100) NULL,
  user_agent text NULL,
  customer_note text NULL,
  PRIMARY KEY (id),
  KEY status (status),
  KEY date_created (date_created_gmt),
  KEY customer_id_billing_email (customer_id, billing_email(171)),
  KEY billing_email (billing_email(191)),
  KEY type_status_date (type, status, date_created_gmt),
  KEY parent_order_id (parent_order_id),
  KEY date_updated (date_updated_gmt)
)`,
	`CREATE TABLE {p}wc_order_addresses (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  order_id bigint(20) unsigned NOT NULL,
  address_type varchar(20) NULL,
  first_name text NULL,
  last_name text NULL,
  company text NULL,
  address_1 text NULL,
  address_2 text NULL,
  city text NULL,
  state text NULL,
  postcode text NULL,
  country text NULL,
  email varchar(320) NULL,
  phone varchar(100) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY address_type_order_id (address_type, order_id),
  KEY order_id (order_id),
  KEY email (email(191)),
  KEY phone (phone)
)`,
	`CREATE TABLE {p}wc_order_operational_data (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  order_id bigint(20) unsigned NULL,
  created_via varchar(100) NULL,
  woocommerce_version varchar(20) NULL,
  prices_include_tax tinyint(1) NULL,
  coupon_usages_are_counted tinyint(1) NULL,
  download_permission_granted tinyint(1) NULL,
  cart_hash varchar(100) NULL,
  new_order_email_sent tinyint(1) NULL,
  order_key varchar(100) NULL,
  order_stock_reduced tinyint(1) NULL,
  date_paid_gmt datetime NULL,
  date_completed_gmt datetime NULL,
  shipping_tax_amount decimal(26,8) NULL,
  shipping_total_amount decimal(26,8) NULL,
  discount_tax_amount decimal(26,8) NULL,
  discount_total_amount decimal(26,8) NULL,
  recorded_sales tinyint(1) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY order_id (order_id),
  KEY order_key (order_key)
)`,
	`CREATE TABLE {p}wc_orders_meta (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  order_id bigint(20) unsigned NULL,
  meta_key varchar(255) NULL,
  meta_value text NULL,
  PRIMARY KEY (id),
  KEY meta_key_value (meta_key(100), meta_value(82)),
  KEY order_id_meta_key_meta_value (order_id, meta_key(100), meta_value(82))
)`,
	`CREATE TABLE {p}woocommerce_order_items (
  order_item_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  order_item_name text NOT NULL,
  order_item_type varchar(200) NOT NULL DEFAULT '',
  order_id bigint(20) unsigned NOT NULL,
  PRIMARY KEY (order_item_id),
  KEY order_id (order_id)
)`,
	`CREATE TABLE {p}woocommerce_order_itemmeta (
  meta_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  order_item_id bigint(20) unsigned NOT NULL,
  meta_key varchar(255) DEFAULT NULL,
  meta_value longtext NULL,
  PRIMARY KEY (meta_id),
  KEY order_item_id (order_item_id),
  KEY meta_key (meta_key(32))
)`,
	`CREATE TABLE {p}wc_product_meta_lookup (
  product_id bigint(20) NOT NULL,
  sku varchar(100) NULL DEFAULT '',
  global_unique_id varchar(100) NULL DEFAULT '',
  ` + "`virtual`" + ` tinyint(1) NULL DEFAULT 0,
  downloadable tinyint(1) NULL DEFAULT 0,
  min_price decimal(19,4) NULL DEFAULT NULL,
  max_price decimal(19,4) NULL DEFAULT NULL,
  onsale tinyint(1) NULL DEFAULT 0,
  stock_quantity double NULL DEFAULT NULL,
  stock_status varchar(100) NULL DEFAULT 'instock',
  rating_count bigint(20) NULL DEFAULT 0,
  average_rating decimal(3,2) NULL DEFAULT 0.00,
  total_sales bigint(20) NULL DEFAULT 0,
  tax_status varchar(100) NULL DEFAULT 'taxable',
  tax_class varchar(100) NULL DEFAULT '',
  PRIMARY KEY (product_id),
  KEY ` + "`virtual`" + ` (` + "`virtual`" + `),
  KEY downloadable (downloadable),
  KEY stock_status (stock_status),
  KEY stock_quantity (stock_quantity),
  KEY onsale (onsale),
  KEY min_max_price (min_price, max_price),
  KEY sku (sku(50))
)`,
	`CREATE TABLE {p}wc_order_stats (
  order_id bigint(20) unsigned NOT NULL,
  parent_id bigint(20) unsigned NOT NULL DEFAULT 0,
  date_created datetime NOT NULL,
  date_created_gmt datetime NOT NULL,
  date_paid datetime NULL,
  date_completed datetime NULL,
  num_items_sold int(11) NOT NULL DEFAULT 0,
  total_sales double NOT NULL DEFAULT 0,
  tax_total double NOT NULL DEFAULT 0,
  shipping_total double NOT NULL DEFAULT 0,
  net_total double NOT NULL DEFAULT 0,
  returning_customer tinyint(1) NULL DEFAULT NULL,
  status varchar(200) NOT NULL,
  customer_id bigint(20) unsigned NOT NULL,
  PRIMARY KEY (order_id),
  KEY date_created (date_created),
  KEY customer_id (customer_id),
  KEY status (status(191))
)`,
	`CREATE TABLE {p}wc_reserved_stock (
  order_id bigint(20) NOT NULL,
  product_id bigint(20) NOT NULL,
  stock_quantity double NOT NULL DEFAULT 0,
  ` + "`timestamp`" + ` datetime NOT NULL,
  expires datetime NOT NULL,
  PRIMARY KEY (order_id, product_id)
)`,
	`CREATE TABLE {p}woocommerce_downloadable_product_permissions (
  permission_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  download_id varchar(36) NOT NULL,
  product_id bigint(20) unsigned NOT NULL,
  order_id bigint(20) unsigned NOT NULL DEFAULT 0,
  order_key varchar(200) NOT NULL,
  user_email varchar(200) NOT NULL,
  user_id bigint(20) unsigned NULL,
  downloads_remaining varchar(9) NULL,
  access_granted datetime NOT NULL,
  access_expires datetime NULL DEFAULT NULL,
  download_count bigint(20) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (permission_id),
  KEY download_order_key_product (product_id, order_id, order_key(16), download_id),
  KEY download_order_product (download_id, order_id, product_id),
  KEY order_id (order_id),
  KEY user_order_remaining_expires (user_id, order_id, downloads_remaining, access_expires)
)`,
}

// Tables lists the tables Install creates, without prefix.
func Tables() []string {
	re := regexp.MustCompile(`^CREATE TABLE \{p\}(\w+)`)
	names := make([]string, 0, len(schema))
	for _, s := range schema {
		names = append(names, re.FindStringSubmatch(s)[1])
	}
	return names
}

// SiteURL is the siteurl option Install writes.
const SiteURL = "http://shop.test"

// WooCommerceVersion is the woocommerce_version option Install writes.
const WooCommerceVersion = "10.0.2"

type installConfig struct {
	timezone  string // timezone_string, "" for none
	gmtOffset string
}

// InstallOption changes what Install writes.
type InstallOption func(*installConfig)

// WithTimezone sets the site timezone (timezone_string), e.g. "Europe/Berlin".
func WithTimezone(name string) InstallOption {
	return func(c *installConfig) { c.timezone, c.gmtOffset = name, "0" }
}

// WithGMTOffset leaves timezone_string empty and sets gmt_offset (hours, e.g.
// "5.5"), as WordPress does when a site picks a "UTC+5:30" style zone.
func WithGMTOffset(hours string) InstallOption {
	return func(c *installConfig) { c.timezone, c.gmtOffset = "", hours }
}

// Install creates WooCommerce's tables with the given prefix and writes the
// options of the storage mode. The HPOS tables exist in every mode, as they do
// on a store that has ever had the feature available.
func Install(ctx context.Context, db *sql.DB, mode bridge.StorageMode, prefix string, opts ...InstallOption) error {
	cfg := installConfig{timezone: "UTC", gmtOffset: "0"}
	for _, o := range opts {
		o(&cfg)
	}
	for _, s := range schema {
		if _, err := db.ExecContext(ctx, strings.ReplaceAll(s, "{p}", prefix)); err != nil {
			return fmt.Errorf("install %s: %w", strings.Fields(s)[2], err)
		}
	}
	enabled, sync := "no", "no"
	switch mode {
	case bridge.StoragePosts:
	case bridge.StoragePostsSync:
		sync = "yes"
	case bridge.StorageHPOSSync:
		enabled, sync = "yes", "yes"
	case bridge.StorageHPOS:
		enabled = "yes"
	default:
		return fmt.Errorf("install: unknown storage mode %q", mode)
	}
	options := [][2]string{
		{"siteurl", SiteURL},
		{"home", SiteURL},
		{"timezone_string", cfg.timezone},
		{"gmt_offset", cfg.gmtOffset},
		{"woocommerce_version", WooCommerceVersion},
		{"woocommerce_db_version", WooCommerceVersion},
		{"woocommerce_custom_orders_table_enabled", enabled},
		{"woocommerce_custom_orders_table_data_sync_enabled", sync},
		{"woocommerce_custom_orders_table_created", "yes"},
	}
	for _, o := range options {
		if err := SetOption(ctx, db, prefix, o[0], o[1]); err != nil {
			return err
		}
	}
	return nil
}

// SetOption writes one {prefix}options row, replacing its value.
func SetOption(ctx context.Context, db *sql.DB, prefix, name, value string) error {
	_, err := db.ExecContext(ctx, "INSERT INTO "+prefix+"options (option_name, option_value, autoload) VALUES (?, ?, 'yes') ON DUPLICATE KEY UPDATE option_value = VALUES(option_value)", name, value)
	if err != nil {
		return fmt.Errorf("set option %s: %w", name, err)
	}
	return nil
}
