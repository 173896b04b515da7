package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/api"
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
			n := api.NewNotifier(func() string { return srv.URL + "/wp-json/wcbridge/v1/notify" }, func() []byte { return []byte("s") }, nil)
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
		n := api.NewNotifier(func() string { return url + "/wp-json/wcbridge/v1/notify" }, func() []byte { return []byte("s") }, nil)
		if err := n.Notify(context.Background(), &bridge.Notification{EventID: "e", Payload: []byte(`{}`)}); !errors.Is(err, bridge.ErrWordPressDown) {
			t.Fatalf("err = %v, want ErrWordPressDown", err)
		}
	})
}
