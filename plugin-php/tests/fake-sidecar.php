<?php
/**
 * A fake sidecar for `php -S`: it verifies the plugin's signature with its own
 * implementation of the contract (not the plugin's Signer), records each
 * request in $WCB_FAKE_DIR/requests.jsonl and answers from
 * $WCB_FAKE_DIR/answers.json ("METHOD /path" => {status, body}).
 *
 * @package WCBridge
 */

declare(strict_types=1);

$dir    = getenv( 'WCB_FAKE_DIR' );
$secret = getenv( 'WCB_FAKE_SECRET' );
$method = $_SERVER['REQUEST_METHOD'];
$path   = $_SERVER['REQUEST_URI'];
$body   = file_get_contents( 'php://input' );
$ts     = $_SERVER['HTTP_X_WCBRIDGE_TIMESTAMP'] ?? '';
$rid    = $_SERVER['HTTP_X_WCBRIDGE_REQUEST_ID'] ?? '';
$sig    = $_SERVER['HTTP_X_WCBRIDGE_SIGNATURE'] ?? '';

$want  = 'v2=' . hash_hmac( 'sha256', $ts . "\n" . $rid . "\n" . $method . "\n" . $path . "\n" . $body, $secret );
$valid = '' !== $ts && ctype_digit( $ts ) && abs( time() - (int) $ts ) <= 300 && preg_match( '/^[A-Za-z0-9_-]{16,64}$/', $rid ) && hash_equals( $want, $sig );
// A request id received before is a replay, as the sidecar says.
$seen_file = $dir . '/request-ids.txt';
$replayed  = $valid && in_array( $rid, file_exists( $seen_file ) ? file( $seen_file, FILE_IGNORE_NEW_LINES ) : array(), true );
if ( $valid && ! $replayed ) {
	file_put_contents( $seen_file, $rid . "\n", FILE_APPEND | LOCK_EX );
}

file_put_contents(
	$dir . '/requests.jsonl',
	json_encode( array( 'method' => $method, 'path' => $path, 'body' => $body, 'valid' => $valid, 'request_id' => $rid, 'replayed' => $replayed ) ) . "\n",
	FILE_APPEND | LOCK_EX
);

header( 'Content-Type: application/json' );
if ( ! $valid ) {
	http_response_code( 401 );
	echo json_encode( array( 'error' => array( 'code' => 'unauthorized', 'message' => 'signature missing, wrong or outside the time window' ) ) );
	return;
}
if ( $replayed ) {
	http_response_code( 401 );
	echo json_encode( array( 'error' => array( 'code' => 'replayed', 'message' => 'request already received (replayed)' ) ) );
	return;
}
$answers = json_decode( (string) @file_get_contents( $dir . '/answers.json' ), true ) ?: array();
$key     = $method . ' ' . parse_url( $path, PHP_URL_PATH );
if ( ! isset( $answers[ $key ] ) ) {
	http_response_code( 404 );
	echo json_encode( array( 'error' => array( 'code' => 'not_found', 'message' => 'no answer for ' . $key ) ) );
	return;
}
if ( ! empty( $answers[ $key ]['sleep'] ) ) {
	sleep( (int) $answers[ $key ]['sleep'] );
}
http_response_code( (int) $answers[ $key ]['status'] );
echo json_encode( $answers[ $key ]['body'] );
