package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/store"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

const (
	keyA = "7b2e4c9d1f0a63e8b5d27c4f9a1e06b3d8c5f2a7e4b19d60c3f8a2e5b7d1c94f"
	keyB = "e1d4a7c0f3b6295e8d1a4c7f0b3e6d9a2c5f8b1e4d7a0c3f6b9e2d5a8c1f4b7e"
)

func isSecret(name string) bool { return strings.HasSuffix(name, "secret") }

// settingsStore opens a migrated store on db with the given sealer.
func settingsStore(t *testing.T, db *wootest.DB, sealer *store.Sealer) *store.Store {
	t.Helper()
	s, err := store.Open(db.DB, "wp_", store.Options{Sealer: sealer, Secret: isSecret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func sealer(t *testing.T, key string, previous ...string) *store.Sealer {
	t.Helper()
	s, err := store.NewSealer(key, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// put saves values as they are.
func put(t *testing.T, s *store.Store, values map[string]string) *store.SettingsState {
	t.Helper()
	st, err := s.UpdateSettings(context.Background(), func(*store.SettingsState) (map[string]string, error) { return values, nil })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSettingsSaveOnlyWhatIsNamed(t *testing.T) {
	ctx := context.Background()
	db := wootest.Open(t)
	s := settingsStore(t, db, nil)
	got, err := s.Settings(ctx)
	if err != nil || len(got.Values) != 0 || got.Version != 0 {
		t.Fatalf("empty settings = %+v, %v", got, err)
	}
	put(t, s, map[string]string{"title": "Pay with crypto", "tolerance": "0.5"})
	st := put(t, s, map[string]string{"tolerance": "1.25", "note": "ünïcode ✓"})
	if st.Version != 2 {
		t.Errorf("version after two saves = %d, want 2", st.Version)
	}
	got, err = s.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"title": "Pay with crypto", "tolerance": "1.25", "note": "ünïcode ✓"}
	if fmt.Sprint(got.Values) != fmt.Sprint(want) || got.Version != 2 {
		t.Fatalf("settings = %v v%d, want %v v2", got.Values, got.Version, want)
	}
	if v, err := s.SettingsVersion(ctx); err != nil || v != 2 {
		t.Fatalf("SettingsVersion = %d, %v; want 2", v, err)
	}
	// fn sees what is stored now, and its error writes nothing.
	refused := errors.New("refused")
	_, err = s.UpdateSettings(ctx, func(cur *store.SettingsState) (map[string]string, error) {
		if cur.Values["tolerance"] != "1.25" || cur.Version != 2 {
			t.Errorf("fn saw %v v%d", cur.Values, cur.Version)
		}
		return nil, refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("fn's error: got %v", err)
	}
	if v, _ := s.SettingsVersion(ctx); v != 2 {
		t.Fatalf("a refused save moved the version to %d", v)
	}
	if _, err := s.UpdateSettings(ctx, func(*store.SettingsState) (map[string]string, error) {
		return map[string]string{"": "x"}, nil
	}); bridge.ErrorCode(err) != bridge.EINVALID {
		t.Fatalf("empty name: err = %v, want invalid", err)
	}
	if _, err := s.UpdateSettings(ctx, func(*store.SettingsState) (map[string]string, error) {
		return map[string]string{"#version": "99"}, nil
	}); bridge.ErrorCode(err) != bridge.EINVALID {
		t.Fatalf("the version row as a setting: err = %v, want invalid", err)
	}
}

// TestSettingsConcurrentSaves: two stores (replicas) each save their own key
// many times at once, each from what it read; no save undoes another.
func TestSettingsConcurrentSaves(t *testing.T) {
	wootest.RequireReal(t, "concurrent saves need real row locks")
	db := wootest.Open(t)
	a, b := settingsStore(t, db, nil), settingsStore(t, db, nil)
	const rounds = 25
	var wg sync.WaitGroup
	for i, s := range []*store.Store{a, b} {
		wg.Add(1)
		go func(i int, s *store.Store) {
			defer wg.Done()
			for n := 1; n <= rounds; n++ {
				key := fmt.Sprintf("replica%d", i)
				if _, err := s.UpdateSettings(context.Background(), func(cur *store.SettingsState) (map[string]string, error) {
					// A read-modify-write of the replica's own key only.
					return map[string]string{key: fmt.Sprint(n)}, nil
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}(i, s)
	}
	wg.Wait()
	got, err := a.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Values["replica0"] != fmt.Sprint(rounds) || got.Values["replica1"] != fmt.Sprint(rounds) || got.Version != 2*rounds {
		t.Fatalf("after %d saves each: %v version %d, want both %d and version %d", rounds, got.Values, got.Version, rounds, 2*rounds)
	}
}

func TestSettingsSecretsEncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	db := wootest.Open(t)
	plain := "sk_live_4eC39HqLyjWDarjtT1zdp7dc"

	// Without a key, a secret is refused, naming the field; other settings save.
	noKey := settingsStore(t, db, nil)
	_, err := noKey.UpdateSettings(ctx, func(*store.SettingsState) (map[string]string, error) {
		return map[string]string{"gateway.secret": plain}, nil
	})
	var be *bridge.Error
	if !errors.As(err, &be) || be.Code != bridge.ECONFLICT || be.Fields["gateway.secret"] == "" {
		t.Fatalf("secret without a key: %v", err)
	}
	put(t, noKey, map[string]string{"title": "shop"})

	s := settingsStore(t, db, sealer(t, keyA))
	put(t, s, map[string]string{"gateway.secret": plain, "title": "shop 2"})
	var raw string
	if err := db.DB.QueryRow("SELECT value FROM wp_wcbridge_settings WHERE name = 'gateway.secret'").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, plain) || !store.Sealed(raw) {
		t.Fatalf("stored secret = %q, want it sealed", raw)
	}
	got, err := s.Settings(ctx)
	if err != nil || got.Values["gateway.secret"] != plain || got.Values["title"] != "shop 2" {
		t.Fatalf("read back %v, %v", got.Values, err)
	}
	// Moved to another setting's row, it does not open (the name is bound).
	if _, err := db.DB.Exec("INSERT INTO wp_wcbridge_settings (name, value, updated_at) VALUES ('other.secret', ?, NOW())", raw); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Settings(ctx)
	if _, ok := got.Values["other.secret"]; ok || got.Unreadable["other.secret"] == "" {
		t.Fatalf("a sealed value moved to another name opened: %+v", got)
	}
	// A replica without the key, or with another key, cannot read it and
	// says so without showing it.
	for name, other := range map[string]*store.Store{"no key": noKey, "other key": settingsStore(t, db, sealer(t, keyB))} {
		got, err := other.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got.Values["gateway.secret"]; ok || got.Unreadable["gateway.secret"] == "" {
			t.Errorf("%s: %+v", name, got)
		}
		if strings.Contains(fmt.Sprint(got), plain) {
			t.Errorf("%s: the secret shows in %+v", name, got)
		}
	}
}

// TestSettingsKeyRotation: a secret stored in plain text by an older
// version, and one sealed under the old key, are both sealed again under the
// new key; a replica that still has only the new key reads both afterwards.
func TestSettingsKeyRotation(t *testing.T) {
	ctx := context.Background()
	db := wootest.Open(t)
	old := settingsStore(t, db, sealer(t, keyA))
	put(t, old, map[string]string{"a.secret": "sealed-under-A"})
	if _, err := db.DB.Exec("INSERT INTO wp_wcbridge_settings (name, value, updated_at) VALUES ('b.secret', 'stored-plain', NOW())"); err != nil {
		t.Fatal(err)
	}
	got, _ := old.Settings(ctx)
	if len(got.Plain) != 1 || got.Plain[0] != "b.secret" {
		t.Fatalf("plain secrets = %v, want [b.secret]", got.Plain)
	}

	rotating := settingsStore(t, db, sealer(t, keyB, keyA))
	v0, _ := rotating.SettingsVersion(ctx)
	names, err := rotating.ResealSettings(ctx)
	if err != nil || strings.Join(names, ",") != "a.secret,b.secret" {
		t.Fatalf("resealed %v, %v; want a.secret,b.secret", names, err)
	}
	if v, _ := rotating.SettingsVersion(ctx); v != v0 {
		t.Errorf("resealing moved the version %d → %d", v0, v)
	}
	if names, err := rotating.ResealSettings(ctx); err != nil || len(names) != 0 {
		t.Errorf("second reseal: %v, %v; want nothing to do", names, err)
	}
	onlyB := settingsStore(t, db, sealer(t, keyB))
	got, err = onlyB.Settings(ctx)
	if err != nil || got.Values["a.secret"] != "sealed-under-A" || got.Values["b.secret"] != "stored-plain" || len(got.Unreadable) != 0 || len(got.Plain) != 0 {
		t.Fatalf("after rotation, with the new key only: %+v, %v", got, err)
	}
}

func TestSealer(t *testing.T) {
	s := sealer(t, keyA)
	a, err := s.Seal("x.secret", "value")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Seal("x.secret", "value")
	if a == b {
		t.Error("two seals of one value are equal: the nonce is not fresh")
	}
	if !strings.Contains(a, ":"+s.KeyID()+":") || strings.Contains(a, keyA) {
		t.Errorf("sealed value %q: want the key id, never the key", a)
	}
	if p, cur, err := s.Open("x.secret", a); err != nil || p != "value" || !cur {
		t.Fatalf("open = %q %v %v", p, cur, err)
	}
	// Any changed byte fails.
	for i := len("wcbridge:sealed:v1:") + 9; i < len(a); i += 7 {
		c := []byte(a)
		c[i] ^= 1
		if _, _, err := s.Open("x.secret", string(c)); err == nil {
			t.Fatalf("altered at %d: opened", i)
		}
	}
	if _, err := store.NewSealer(""); err == nil {
		t.Error("an empty key is accepted")
	}
}
