package wordpress_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/pluginsig"
	"github.com/wcbridge/wcbridge/bridge/wordpress"
)

// TestNotifierTellsWordPressDownFromRefusal: only a failure of WordPress
// itself counts as "down" (the sidecar then probes and catches up at once);
// an answer of the plugin or of WordPress's REST API is about the
// notification.
func TestNotifierTellsWordPressDownFromRefusal(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		down   bool
		gone   bool
		ok     bool
	}{
		{"finished", 200, `{"ok":true,"finished":true}`, false, false, true},
		{"proxy 502 page", 502, "<html>Bad Gateway</html>", true, false, false},
		{"maintenance 503 page", 503, "Briefly unavailable for scheduled maintenance.", true, false, false},
		{"database error 500 page", 500, "<h1>Error establishing a database connection</h1>", true, false, false},
		{"plugin busy 503", 503, `{"code":"unavailable","message":"retry later","data":{"status":503}}`, false, false, false},
		{"fatal in a REST request", 500, `{"code":"internal_server_error","message":"critical error","data":{"status":500}}`, false, false, false},
		{"not paid in the database", 409, `{"code":"conflict","message":"not paid","data":{"status":409}}`, false, false, false},
		{"order deleted", 410, `{"code":"order_gone","message":"order not found","data":{"status":410}}`, false, true, false},
		{"plugin inactive", 404, `{"code":"rest_no_route","message":"No route","data":{"status":404}}`, false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			defer srv.Close()
			n := wordpress.NewNotifier(func() string { return srv.URL + "/wp-json/wcbridge/v1/notify" }, func() []byte { return []byte("s") }, nil)
			err := n.Notify(context.Background(), &bridge.Notification{EventID: "e", OrderID: 1, Payload: []byte(`{}`)})
			if got := err == nil; got != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if got := errors.Is(err, bridge.ErrWordPressDown); got != c.down {
				t.Errorf("down = %v, want %v (err %v)", got, c.down, err)
			}
			if got := errors.Is(err, bridge.ErrOrderGone); got != c.gone {
				t.Errorf("gone = %v, want %v (err %v)", got, c.gone, err)
			}
		})
	}

	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		n := wordpress.NewNotifier(func() string { return url + "/wp-json/wcbridge/v1/notify" }, func() []byte { return []byte("s") }, nil)
		if err := n.Notify(context.Background(), &bridge.Notification{EventID: "e", Payload: []byte(`{}`)}); !errors.Is(err, bridge.ErrWordPressDown) {
			t.Fatalf("err = %v, want ErrWordPressDown", err)
		}
	})
}

// TestNotifyBatch: one signed request carries every event; each gets the
// plugin's answer for it, and a plugin that takes no batches (answers 400,
// as a version from before batches does) is told apart.
func TestNotifyBatch(t *testing.T) {
	ns := []*bridge.Notification{
		{EventID: "a", OrderID: 1, Payload: []byte(`{"event_id":"a","order_id":1,"outcome":"paid"}`)},
		{EventID: "b", OrderID: 2, Payload: []byte(`{"event_id":"b","order_id":2,"outcome":"paid"}`)},
		{EventID: "c", OrderID: 3, Payload: []byte(`{"event_id":"c","order_id":3,"outcome":"paid"}`)},
		{EventID: "d", OrderID: 4, Payload: []byte(`{"event_id":"d","order_id":4,"outcome":"paid"}`)},
	}
	secret := []byte("batch-secret")
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		body, _ := io.ReadAll(r.Body)
		if err := pluginsig.Verify(secret, pluginsig.SignedFrom(r.Header), r.Method, r.URL.RequestURI(), body, time.Now(), time.Minute); err != nil {
			t.Errorf("batch signature: %v", err)
		}
		var in struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(body, &in); err != nil || len(in.Events) != 4 || in.Events[2]["event_id"] != "c" {
			t.Errorf("batch body %s: %v", body, err)
		}
		_, _ = w.Write([]byte(`{"ok":true,"results":[{"event_id":"a","ok":true,"finished":true},{"event_id":"b","ok":true,"finished":false},` +
			`{"event_id":"c","ok":false,"status":410,"code":"order_gone","message":"order not found"}]}`))
	}))
	defer srv.Close()
	n := wordpress.NewNotifier(func() string { return srv.URL + "/wp-json/wcbridge/v1/notify" }, func() []byte { return secret }, nil)
	errs := n.NotifyBatch(context.Background(), ns)
	if requests != 1 {
		t.Fatalf("%d requests for a batch of 4, want 1", requests)
	}
	if errs[0] != nil || errs[1] != nil {
		t.Errorf("finished events: %v, %v; want nil", errs[0], errs[1])
	}
	if !errors.Is(errs[2], bridge.ErrOrderGone) {
		t.Errorf("event of a deleted order: %v, want ErrOrderGone", errs[2])
	}
	if errs[3] == nil || errors.Is(errs[3], bridge.ErrWordPressDown) {
		t.Errorf("event without an answer: %v, want a retry that is not WordPress down", errs[3])
	}

	for _, c := range []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"older plugin", 400, `{"code":"invalid","message":"event_id, order_id and outcome are required","data":{"status":400}}`, bridge.ErrBatchUnsupported},
		{"proxy page", 502, "<html>Bad Gateway</html>", bridge.ErrWordPressDown},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			defer srv.Close()
			n := wordpress.NewNotifier(func() string { return srv.URL + "/wp-json/wcbridge/v1/notify" }, func() []byte { return secret }, nil)
			for i, err := range n.NotifyBatch(context.Background(), ns) {
				if !errors.Is(err, c.want) {
					t.Errorf("event %d: %v, want %v", i, err, c.want)
				}
			}
		})
	}
}
