<?php
/**
 * The shop's "crypto payment needs attention" e-mail (plain text). A theme
 * can override it with
 * yourtheme/woocommerce/emails/plain/wcbridge-payment-attention.php.
 *
 * @package WCBridge
 *
 * @var \WC_Order $order
 * @var array     $findings           Each array{code: string, text: string}.
 * @var string    $email_heading
 * @var string    $additional_content
 * @var bool      $sent_to_admin
 * @var bool      $plain_text
 * @var \WC_Email $email
 */

declare(strict_types=1);

defined( 'ABSPATH' ) || exit;

echo "=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=\n";
echo esc_html( wp_strip_all_tags( $email_heading ) ) . "\n";
echo "=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=\n\n";
echo esc_html__( 'A crypto payment for this order needs you:', 'wcbridge' ) . "\n\n";
foreach ( $findings as $finding ) {
	echo esc_html( html_entity_decode( wp_strip_all_tags( (string) $finding['text'] ), ENT_QUOTES, 'UTF-8' ) ) . "\n\n";
}
echo esc_html__( 'Open the order:', 'wcbridge' ) . ' ' . esc_url_raw( $order->get_edit_order_url() ) . "\n\n";
do_action( 'woocommerce_email_order_details', $order, $sent_to_admin, $plain_text, $email );
do_action( 'woocommerce_email_customer_details', $order, $sent_to_admin, $plain_text, $email );
if ( $additional_content ) {
	echo esc_html( wp_strip_all_tags( wptexturize( $additional_content ) ) ) . "\n\n";
}
echo wp_kses_post( apply_filters( 'woocommerce_email_footer_text', get_option( 'woocommerce_email_footer_text' ) ) );
