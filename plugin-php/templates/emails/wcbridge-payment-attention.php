<?php
/**
 * The shop's "crypto payment needs attention" e-mail (HTML). A theme can
 * override it with yourtheme/woocommerce/emails/wcbridge-payment-attention.php.
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

do_action( 'woocommerce_email_header', $email_heading, $email );
?>
<p><?php echo esc_html__( 'A crypto payment for this order needs you:', 'wcbridge' ); ?></p>
<?php foreach ( $findings as $finding ) : ?>
<p class="wcbridge-finding wcbridge-<?php echo esc_attr( (string) $finding['code'] ); ?>"><?php echo wp_kses_post( (string) $finding['text'] ); ?></p>
<?php endforeach; ?>
<p><a href="<?php echo esc_url( $order->get_edit_order_url() ); ?>"><?php echo esc_html__( 'Open the order', 'wcbridge' ); ?></a></p>
<?php
do_action( 'woocommerce_email_order_details', $order, $sent_to_admin, $plain_text, $email );
do_action( 'woocommerce_email_customer_details', $order, $sent_to_admin, $plain_text, $email );
if ( $additional_content ) {
	echo wp_kses_post( wpautop( wptexturize( $additional_content ) ) );
}
do_action( 'woocommerce_email_footer', $email );
