<?php
/**
 * The shop's e-mail for a crypto payment that needs a human.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Email_Payment_Attention tells the shop about an underpaid, overpaid,
 * doubly paid or late crypto payment, or one that reached an order the shop
 * had changed meanwhile. It is one of WooCommerce's e-mails: the shop can
 * switch it off, change its recipients, subject and heading under
 * WooCommerce → Settings → Emails, and override its templates in the theme
 * (woocommerce/emails/wcbridge-payment-attention.php).
 */
class Email_Payment_Attention extends \WC_Email {

	/**
	 * What needs a human: array{code: string, text: string} each.
	 *
	 * @var array
	 */
	public $findings = array();

	/**
	 * Constructor.
	 */
	public function __construct() {
		$this->id             = Emails::ATTENTION_ID;
		$this->title          = __( 'Crypto payment needs attention', 'wcbridge' );
		$this->description    = __( 'Sent to the shop when a crypto payment needs a human: underpaid, overpaid, paid twice, paid after the order was cancelled or the payment expired, or received for an order that was changed meanwhile.', 'wcbridge' );
		$this->customer_email = false;
		$this->template_html  = 'emails/wcbridge-payment-attention.php';
		$this->template_plain = 'emails/plain/wcbridge-payment-attention.php';
		$this->template_base  = WCBRIDGE_PLUGIN_DIR . 'templates/';
		$this->placeholders   = array(
			'{order_date}'   => '',
			'{order_number}' => '',
		);
		parent::__construct();
		$this->recipient = $this->get_option( 'recipient', get_option( 'admin_email' ) );
	}

	/**
	 * Get_default_subject is the subject before the shop changes it.
	 */
	public function get_default_subject() {
		return __( '[{site_title}]: Crypto payment for order #{order_number} needs attention', 'wcbridge' );
	}

	/**
	 * Get_default_heading is the heading before the shop changes it.
	 */
	public function get_default_heading() {
		return __( 'Crypto payment needs attention: order #{order_number}', 'wcbridge' );
	}

	/**
	 * Trigger sends the e-mail for an order and its findings.
	 *
	 * @param int            $order_id Order id.
	 * @param \WC_Order|bool $order    The order.
	 * @param array          $findings What needs a human.
	 */
	public function trigger( $order_id, $order = false, $findings = array() ) {
		$this->setup_locale();
		if ( $order_id && ! is_a( $order, 'WC_Order' ) ) {
			$order = wc_get_order( $order_id );
		}
		if ( is_a( $order, 'WC_Order' ) ) {
			$this->object                         = $order;
			$this->findings                       = is_array( $findings ) ? $findings : array();
			$this->placeholders['{order_date}']   = wc_format_datetime( $order->get_date_created() );
			$this->placeholders['{order_number}'] = $order->get_order_number();
			if ( $this->is_enabled() && $this->get_recipient() && ! empty( $this->findings ) ) {
				$this->send( $this->get_recipient(), $this->get_subject(), $this->get_content(), $this->get_headers(), $this->get_attachments() );
			}
		}
		$this->restore_locale();
	}

	/**
	 * Get_content_html renders the HTML template.
	 */
	public function get_content_html() {
		return wc_get_template_html( $this->template_html, $this->template_args( false ), '', $this->template_base );
	}

	/**
	 * Get_content_plain renders the plain-text template.
	 */
	public function get_content_plain() {
		return wc_get_template_html( $this->template_plain, $this->template_args( true ), '', $this->template_base );
	}

	/**
	 * Template_args are the variables the templates see.
	 *
	 * @param bool $plain Plain text.
	 */
	private function template_args( bool $plain ): array {
		return array(
			'order'              => $this->object,
			'findings'           => $this->findings,
			'email_heading'      => $this->get_heading(),
			'additional_content' => $this->get_additional_content(),
			'sent_to_admin'      => true,
			'plain_text'         => $plain,
			'email'              => $this,
		);
	}

	/**
	 * Init_form_fields: the switch, recipients, subject, heading, additional
	 * content and type, as WooCommerce's own shop e-mails have them.
	 */
	public function init_form_fields() {
		parent::init_form_fields();
		$fields              = $this->form_fields;
		$fields['recipient'] = array(
			'title'       => __( 'Recipient(s)', 'wcbridge' ),
			'type'        => 'text',
			/* translators: %s: WP admin email */
			'description' => sprintf( __( 'Comma-separated e-mail addresses. Defaults to %s.', 'wcbridge' ), '<code>' . esc_attr( (string) get_option( 'admin_email' ) ) . '</code>' ),
			'placeholder' => '',
			'default'     => '',
			'desc_tip'    => true,
		);
		// The recipient field right after the switch, as in WooCommerce's own.
		$this->form_fields = array_merge( array_intersect_key( $fields, array( 'enabled' => 1 ) ), array( 'recipient' => $fields['recipient'] ), $fields );
	}
}
