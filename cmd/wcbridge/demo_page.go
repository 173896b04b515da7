//go:build demo

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/pluginsig"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// The demo page plays two parts: the shop (orders, checkout, the customer's
// order page) and the WordPress plugin (signed calls to the sidecar, the
// notify endpoint).

type demoNotification struct {
	At         time.Time
	EventID    string
	OrderID    int64
	Outcome    string
	FromStatus string
	ToStatus   string
	Problem    string // why it was refused; empty when accepted
}

func (d *demo) handler() (http.Handler, error) {
	t, err := template.New("demo").Funcs(template.FuncMap{
		"stamp": func(t time.Time) string { return t.UTC().Format("15:04:05") },
		"gwForm": func(id int64, from string, gateways []string) demoGatewayForm {
			return demoGatewayForm{ID: id, From: from, Gateways: gateways}
		},
		"page":  func(title, refresh string) demoPageHead { return demoPageHead{Title: title, Refresh: refresh} },
		"title": func(gateway string) string { return demoGatewayTitles[gateway] },
	}).Parse(demoTemplates)
	if err != nil {
		return nil, err
	}
	render := func(w http.ResponseWriter, name string, data any) {
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, name, data); err != nil {
			d.logger.Error("demo page", "err", err)
			http.Error(w, "page failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b.Bytes())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		render(w, "index", d.indexView(r.Context(), r.URL.Query().Get("error")))
	})
	mux.HandleFunc("POST /orders/{id}/checkout", d.handleCheckout)
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		v, err := d.orderView(r.Context(), id, r.URL.Query().Get("back"), r.URL.Query().Get("error"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		render(w, "order", v)
	})
	mux.HandleFunc("GET /orders/{id}/pay", d.handlePayLink)
	mux.HandleFunc("GET /return/cryptocloud", d.handleCryptoCloudReturn)
	mux.HandleFunc("POST /wp-json/wcbridge/v1/notify", d.handleNotify)
	return mux, nil
}

// handleCheckout is the plugin's process_payment: it sets the order's payment
// method, asks the sidecar for a payment and sends the customer to the
// gateway.
func (d *demo) handleCheckout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || !slices.Contains(d.orders, id) {
		http.NotFound(w, r)
		return
	}
	back := r.FormValue("from")
	fail := func(msg string) {
		target := "/?error=" + url.QueryEscape(msg)
		if back == "order" {
			target = fmt.Sprintf("/orders/%d?error=%s", id, url.QueryEscape(msg))
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	}
	gw := r.FormValue("gateway")
	if !slices.Contains(gatewayNames, gw) {
		fail("unknown gateway " + strconv.Quote(gw))
		return
	}
	o, err := d.app.Woo.Order(ctx, id)
	if err != nil {
		fail(err.Error())
		return
	}
	if err := d.setPaymentMethod(ctx, id, gw); err != nil {
		fail(err.Error())
		return
	}
	base := d.URL[:len(d.URL)-1]
	status, body, err := d.call(ctx, "POST", "/v1/checkout", map[string]any{
		"order_id": id, "gateway": gw, "order_key": o.OrderKey,
		"return_url": fmt.Sprintf("%s/orders/%d?back=%s", base, id, gw),
		"cancel_url": fmt.Sprintf("%s/orders/%d", base, id),
	})
	if err != nil {
		fail(err.Error())
		return
	}
	if status != http.StatusOK {
		fail(fmt.Sprintf("checkout with %s: %d %s", gw, status, apiError(body)))
		return
	}
	to, _ := body["redirect_url"].(string)
	if to == "" {
		fail("the sidecar answered no redirect_url")
		return
	}
	rememberAwaiting(w, id)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// awaitingCookie is the order this browser is paying, as WooCommerce keeps
// "order_awaiting_payment" in the customer's session: CryptoCloud sends
// every customer back to the project's one success URL, so the shop finds
// the order from the session, not from the gateway.
const awaitingCookie = "wcbridge_demo_awaiting"

func rememberAwaiting(w http.ResponseWriter, id int64) {
	http.SetCookie(w, &http.Cookie{Name: awaitingCookie, Value: strconv.FormatInt(id, 10), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// handlePayLink is the order page's "Pay the rest" / "Open the payment
// page": it remembers the order being paid and sends the customer to the
// live payment's page at the gateway.
func (d *demo) handlePayLink(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || !slices.Contains(d.orders, id) {
		http.NotFound(w, r)
		return
	}
	status, body, err := d.call(r.Context(), "GET", fmt.Sprintf("/v1/orders/%d/payment", id), nil)
	p, _ := body["payment"].(map[string]any)
	to, _ := p["pay_url"].(string)
	if err != nil || status != http.StatusOK || to == "" {
		http.Redirect(w, r, fmt.Sprintf("/orders/%d?error=%s", id, url.QueryEscape("no payment page to open")), http.StatusSeeOther)
		return
	}
	rememberAwaiting(w, id)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// handleCryptoCloudReturn is the CryptoCloud project's success URL: it
// shows the order this browser was paying (its session), else the order of
// the latest CryptoCloud payment.
func (d *demo) handleCryptoCloudReturn(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(awaitingCookie); err == nil {
		if id, err := strconv.ParseInt(c.Value, 10, 64); err == nil && slices.Contains(d.orders, id) {
			http.Redirect(w, r, fmt.Sprintf("/orders/%d?back=cryptocloud", id), http.StatusSeeOther)
			return
		}
	}
	var id int64
	err := d.db.QueryRowContext(r.Context(), "SELECT order_id FROM "+demoPrefix+"wcbridge_payments WHERE gateway = 'cryptocloud' ORDER BY id DESC LIMIT 1").Scan(&id)
	if err != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orders/%d?back=cryptocloud", id), http.StatusSeeOther)
}

// handleNotify is the plugin's notify endpoint: it verifies the signature and
// records what the sidecar reported.
func (d *demo) handleNotify(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	n := demoNotification{At: time.Now()}
	var msg struct {
		EventID    string `json:"event_id"`
		OrderID    int64  `json:"order_id"`
		Outcome    string `json:"outcome"`
		FromStatus string `json:"from_status"`
		ToStatus   string `json:"to_status"`
	}
	verr := pluginsig.Verify(d.secret, pluginsig.SignedFrom(r.Header), r.Method, r.URL.RequestURI(), body, time.Now(), 5*time.Minute)
	if verr == nil {
		verr = json.Unmarshal(body, &msg)
	}
	n.EventID, n.OrderID, n.Outcome, n.FromStatus, n.ToStatus = msg.EventID, msg.OrderID, msg.Outcome, msg.FromStatus, msg.ToStatus
	d.mu.Lock()
	finished := true
	for _, old := range d.notifications {
		if old.Problem == "" && old.EventID == n.EventID {
			finished = false
		}
	}
	if verr != nil {
		n.Problem = verr.Error()
	}
	d.notifications = append(d.notifications, n)
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if verr != nil {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"ok":false}`)
		return
	}
	fmt.Fprintf(w, `{"ok":true,"finished":%v}`, finished)
}

// call sends a request to the sidecar signed like the plugin signs it.
func (d *demo) call(ctx context.Context, method, path string, body any) (int, map[string]any, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return 0, nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, d.sidecarURL+path, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	pluginsig.Sign(d.secret, time.Now(), method, path, raw).Set(req.Header)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	var out map[string]any
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("%s %s: answer is not JSON", method, path)
		}
	}
	return resp.StatusCode, out, nil
}

func apiError(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	if code == "" && msg == "" {
		return "(no error message)"
	}
	return code + ": " + msg
}

// Views.

type demoIndexView struct {
	Error         string
	Mode          bridge.StorageMode
	SidecarURL    string
	Simulators    map[string]string
	Gateways      []string
	Orders        []demoOrderRow
	Notifications []demoNotification
}

type demoOrderRow struct {
	ID            int64
	Status        string
	Currency      string
	Total         string
	Items         string
	PaymentMethod string
	TransactionID string
	Payable       bool
	Problem       string
}

func (d *demo) indexView(ctx context.Context, errMsg string) demoIndexView {
	v := demoIndexView{Error: errMsg, Mode: d.mode, SidecarURL: d.sidecarURL, Simulators: d.sims.URLs, Gateways: gatewayNames}
	for _, id := range d.orders {
		v.Orders = append(v.Orders, d.orderRow(ctx, id))
	}
	v.Notifications = d.notificationsFor(0)
	return v
}

func (d *demo) orderRow(ctx context.Context, id int64) demoOrderRow {
	o, err := d.app.Woo.Order(ctx, id)
	if err != nil {
		return demoOrderRow{ID: id, Problem: err.Error()}
	}
	row := demoOrderRow{ID: id, Status: o.Status, Currency: o.Currency, Total: o.Total.StringFixed(2),
		PaymentMethod: o.PaymentMethod, TransactionID: o.TransactionID,
		Payable: o.Status == bridge.StatusPending || o.Status == bridge.StatusFailed}
	for i, it := range o.Items {
		if i > 0 {
			row.Items += ", "
		}
		row.Items += it.Quantity.String() + " × " + it.Name
	}
	return row
}

type demoOrderView struct {
	demoOrderRow
	Back          string
	Gateway       string // of the payment, when there is one
	PayURL        string // the live payment's page at the gateway
	Shortfall     string // what is missing of an underpaid payment, with currency
	Error         string
	Gateways      []string
	RefreshURL    string
	State         string
	HoldUntil     string
	Payment       map[string]any
	PaymentFields [][2]string
	Notes         []demoNote
	Callbacks     []demoCallback
	Notifications []demoNotification
	Meta          map[string]string
}

type demoNote struct {
	At   time.Time
	Text string
}

type demoCallback struct {
	At       time.Time
	Gateway  string
	Verified bool
	Reason   string
	Key      string
}

func (d *demo) orderView(ctx context.Context, id int64, back, errMsg string) (*demoOrderView, error) {
	if !slices.Contains(d.orders, id) {
		return nil, fmt.Errorf("order %d is not one of the demo's orders", id)
	}
	v := &demoOrderView{Back: back, Error: errMsg, Gateways: gatewayNames}
	// The customer is back from the gateway: ask for the latest state now,
	// as the plugin's thank-you page does.
	path := fmt.Sprintf("/v1/orders/%d/payment", id)
	var status int
	var body map[string]any
	var err error
	if back != "" {
		status, body, err = d.call(ctx, "POST", fmt.Sprintf("/v1/orders/%d/recheck", id), map[string]any{})
	} else {
		status, body, err = d.call(ctx, "GET", path, nil)
	}
	switch {
	case err != nil:
		v.Error = err.Error()
	case status != http.StatusOK:
		v.Error = fmt.Sprintf("payment state: %d %s", status, apiError(body))
	default:
		v.State, _ = body["state"].(string)
		v.HoldUntil, _ = body["hold_until"].(string)
		if p, ok := body["payment"].(map[string]any); ok {
			v.Payment = p
			v.Gateway, _ = p["gateway"].(string)
			v.PayURL, _ = p["pay_url"].(string)
			if s := fmtAny(p["shortfall"]); s != "" && s != "0" {
				v.Shortfall = s + " " + fmtAny(p["currency"])
			}
			for _, k := range []string{"id", "gateway", "gateway_payment_id", "status", "amount", "currency", "received", "shortfall", "excess", "tx_ref", "expires_at", "created_at"} {
				if val, ok := p[k]; ok && val != nil && fmtAny(val) != "" {
					v.PaymentFields = append(v.PaymentFields, [2]string{k, fmtAny(val)})
				}
			}
		}
	}
	v.demoOrderRow = d.orderRow(ctx, id)
	if o, err := d.app.Woo.Order(ctx, id); err == nil {
		v.Meta = o.Meta
	}
	v.Notes, err = d.notes(ctx, id)
	if err != nil {
		v.Error = err.Error()
	}
	v.Callbacks, err = d.callbacks(ctx, id)
	if err != nil {
		v.Error = err.Error()
	}
	v.Notifications = d.notificationsFor(id)
	if v.Error == "" {
		v.RefreshURL = fmt.Sprintf("/orders/%d", id)
	}
	return v, nil
}

func (d *demo) notes(ctx context.Context, id int64) ([]demoNote, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT comment_date_gmt, comment_content FROM "+demoPrefix+"comments WHERE comment_post_ID = ? AND comment_type = 'order_note' ORDER BY comment_ID", id)
	if err != nil {
		return nil, fmt.Errorf("read notes: %w", err)
	}
	defer rows.Close()
	var out []demoNote
	for rows.Next() {
		var n demoNote
		if err := rows.Scan(&n.At, &n.Text); err != nil {
			return nil, fmt.Errorf("read notes: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func (d *demo) callbacks(ctx context.Context, id int64) ([]demoCallback, error) {
	p := demoPrefix
	rows, err := d.db.QueryContext(ctx, "SELECT c.received_at, c.gateway, c.verified, c.reason, c.payment_key FROM "+p+"wcbridge_callbacks c WHERE c.payment_key IN (SELECT gateway_id FROM "+p+"wcbridge_payments WHERE order_id = ? AND gateway_id IS NOT NULL) ORDER BY c.id", id)
	if err != nil {
		return nil, fmt.Errorf("read callbacks: %w", err)
	}
	defer rows.Close()
	var out []demoCallback
	for rows.Next() {
		var c demoCallback
		var at sql.NullTime
		if err := rows.Scan(&at, &c.Gateway, &c.Verified, &c.Reason, &c.Key); err != nil {
			return nil, fmt.Errorf("read callbacks: %w", err)
		}
		c.At = at.Time
		out = append(out, c)
	}
	return out, rows.Err()
}

// notificationsFor returns the notifications about an order (0: all), newest
// first.
func (d *demo) notificationsFor(id int64) []demoNotification {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []demoNotification
	for i := len(d.notifications) - 1; i >= 0; i-- {
		if n := d.notifications[i]; id == 0 || n.OrderID == id {
			out = append(out, n)
		}
	}
	return out
}

func decimalSum(items []wootest.ItemSeed) string {
	sum := decimal.Zero
	for _, it := range items {
		sum = sum.Add(decimal.RequireFromString(it.Total))
	}
	return sum.StringFixed(2)
}

func fmtAny(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

type demoGatewayForm struct {
	ID       int64
	From     string
	Gateways []string
}

type demoPageHead struct {
	Title   string
	Refresh string // URL to reload after 2 seconds; empty: none
}

const demoTemplates = `
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · wcbridge demo</title>
{{if .Refresh}}<meta http-equiv="refresh" content="2;url={{.Refresh}}">{{end}}
<style>
body{font-family:system-ui,sans-serif;max-width:68em;margin:1.5em auto;padding:0 1em;color:#1d2327}
h1{font-size:1.5em} h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.5em 0} th,td{border-bottom:1px solid #dcdcde;padding:.4em .5em;text-align:left;vertical-align:top}
th{background:#f6f7f7} code{background:#f0f0f1;padding:0 .25em}
.status{display:inline-block;padding:.1em .6em;border-radius:1em;background:#dcdcde}
.status-processing,.status-completed{background:#c6e1c6;color:#2c4700}
.status-on-hold{background:#f8dda7;color:#573b00} .status-cancelled,.status-failed{background:#eba3a3;color:#570000}
.error{background:#fcf0f1;border-left:4px solid #d63638;padding:.5em 1em}
.info{background:#f0f6fc;border-left:4px solid #72aee6;padding:.5em 1em}
button{padding:.3em .8em;margin:.1em;cursor:pointer} .muted{color:#646970}
</style></head><body>{{end}}

{{define "gateways"}}<form method="post" action="/orders/{{.ID}}/checkout">
<input type="hidden" name="from" value="{{.From}}">
{{range .Gateways}}<button type="submit" name="gateway" value="{{.}}" class="pay-{{.}}">Pay with {{title .}}</button>{{end}}
</form>{{end}}

{{define "index"}}{{template "head" (page "Orders" "")}}
<h1>wcbridge demo shop</h1>
<p class="info">A whole installation on this computer: WooCommerce's tables ({{.Mode}} storage) in an
embedded database, the wcbridge sidecar at <code>{{.SidecarURL}}</code>, and simulators of
StreamPay, CryptoCloud and Bitstream. This page plays the shop and the WordPress plugin. Start a
checkout with any gateway; on the simulator's page pay exactly, underpay, overpay or let the
payment expire, and watch the order change.</p>
{{if .Error}}<p class="error" id="error">{{.Error}}</p>{{end}}
<h2>Orders</h2>
<table id="orders"><tr><th>Order</th><th>Items</th><th>Total</th><th>Payment method</th><th>Status</th><th>Transaction</th><th>Checkout</th></tr>
{{range .Orders}}<tr id="order-{{.ID}}" data-currency="{{.Currency}}" data-method="{{.PaymentMethod}}" data-status="{{.Status}}">
<td><a href="/orders/{{.ID}}">#{{.ID}}</a></td><td>{{.Items}}{{if .Problem}}<span class="error">{{.Problem}}</span>{{end}}</td>
<td>{{.Total}} {{.Currency}}</td><td><code>{{.PaymentMethod}}</code></td>
<td><span class="status status-{{.Status}}">{{.Status}}</span></td><td><code>{{.TransactionID}}</code></td>
<td>{{if .Payable}}{{template "gateways" (gwForm .ID "index" $.Gateways)}}{{else}}<span class="muted">nothing to pay</span>{{end}}</td></tr>
{{end}}</table>
<p class="muted">Bitstream takes USD only; StreamPay takes USD and EUR; CryptoCloud takes many currencies.</p>
<h2>Notifications received by the plugin</h2>
{{template "notifications" .Notifications}}
<h2>Simulators</h2>
<ul>{{range $name, $url := .Simulators}}<li>{{$name}}: <code>{{$url}}</code></li>{{end}}</ul>
</body></html>{{end}}

{{define "notifications"}}{{if .}}<table id="notifications"><tr><th>Received</th><th>Order</th><th>Event</th><th>Outcome</th><th>Status change</th><th>Signature</th></tr>
{{range .}}<tr><td>{{stamp .At}}</td><td><a href="/orders/{{.OrderID}}">#{{.OrderID}}</a></td><td><code>{{.EventID}}</code></td><td>{{.Outcome}}</td>
<td>{{.FromStatus}} → {{.ToStatus}}</td><td>{{if .Problem}}<span class="error">refused: {{.Problem}}</span>{{else}}verified{{end}}</td></tr>
{{end}}</table>{{else}}<p class="muted" id="notifications">None yet.</p>{{end}}{{end}}

{{define "order"}}{{template "head" (page (printf "Order #%d" .ID) .RefreshURL)}}
<p><a href="/">← All orders</a></p>
<h1>Order #{{.ID}}</h1>
{{if .Back}}<p class="info">Welcome back from {{.Back}}. The payment was re-checked just now; this page refreshes every 2 seconds.</p>{{end}}
{{if .Error}}<p class="error" id="error">{{.Error}}</p>{{end}}
<table>
<tr><th>Status</th><td><span class="status status-{{.Status}}" id="order-status">{{.Status}}</span></td></tr>
<tr><th>Items</th><td>{{.Items}}</td></tr>
<tr><th>Total</th><td>{{.Total}} {{.Currency}}</td></tr>
<tr><th>Payment method</th><td><code>{{.PaymentMethod}}</code></td></tr>
<tr><th>Transaction reference</th><td><code id="transaction-id">{{.TransactionID}}</code></td></tr>
<tr><th>Payment state</th><td id="payment-state">{{if .State}}{{.State}}{{else}}unknown{{end}}{{if .HoldUntil}} <span class="muted">(stock held until {{.HoldUntil}})</span>{{end}}</td></tr>
</table>
{{if eq .State "underpaid"}}<p class="info" id="story">{{title .Gateway}} reported less than the order total: {{.Shortfall}} is missing. The order waits for the rest.
{{if .PayURL}}<a id="pay-rest" href="/orders/{{.ID}}/pay">Pay the rest</a>{{end}}</p>
{{else if and (eq .State "waiting") (eq .Gateway "streampay")}}<p class="info" id="story">StreamPay waits for the full amount: it reports a payment to the shop only once
everything has arrived, so a partial transfer leaves this order waiting, with no note, until the rest is paid or the link expires.
{{if .PayURL}}<a id="pay-rest" href="/orders/{{.ID}}/pay">Open the payment page (pay the rest)</a>{{end}}</p>
{{else if eq .State "waiting"}}{{if .PayURL}}<p class="info" id="story">Waiting for the payment. <a id="pay-rest" href="/orders/{{.ID}}/pay">Open the payment page</a></p>{{end}}
{{else if eq .State "expired"}}<p class="info" id="story">The payment expired before the full amount arrived{{if .Payable}}; the order can be paid again below{{else}}; the order was cancelled{{end}}.</p>{{end}}
{{if .Payable}}<h2>Pay (again)</h2>{{template "gateways" (gwForm .ID "order" .Gateways)}}{{end}}
<h2>Payment (from the sidecar)</h2>
{{if .PaymentFields}}<table id="payment">{{range .PaymentFields}}<tr><th>{{index . 0}}</th><td><code>{{index . 1}}</code></td></tr>{{end}}</table>
{{else}}<p class="muted">No payment started yet.</p>{{end}}
<h2>Order notes</h2>
{{if .Notes}}<ul id="notes">{{range .Notes}}<li><span class="muted">{{stamp .At}}</span> {{.Text}}</li>{{end}}</ul>
{{else}}<p class="muted" id="notes">No notes yet.</p>{{end}}
<h2>Gateway callbacks</h2>
{{if .Callbacks}}<table id="callbacks"><tr><th>Received</th><th>Gateway</th><th>Verified</th><th>Reason</th><th>Gateway payment</th></tr>
{{range .Callbacks}}<tr><td>{{stamp .At}}</td><td>{{.Gateway}}</td><td>{{if .Verified}}yes{{else}}no{{end}}</td><td>{{.Reason}}</td><td><code>{{.Key}}</code></td></tr>{{end}}</table>
{{else}}<p class="muted" id="callbacks">None.</p>{{end}}
<h2>Notifications received by the plugin</h2>
{{template "notifications" .Notifications}}
{{if .Meta}}<h2>Order meta written by the sidecar</h2>
<table id="meta">{{range $k, $v := .Meta}}<tr><th><code>{{$k}}</code></th><td><code>{{$v}}</code></td></tr>{{end}}</table>{{end}}
</body></html>{{end}}
`
