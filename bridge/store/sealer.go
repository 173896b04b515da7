package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// sealedPrefix starts every encrypted setting value:
// "wcbridge:sealed:v1:<key id>:<base64url(nonce || ciphertext || tag)>".
const sealedPrefix = "wcbridge:sealed:v1:"

// Info strings of the two HKDF derivations: the AES key and the public key
// id are both derived from the operator's key, never the key itself.
const (
	hkdfInfoKey = "wcbridge settings encryption v1"
	hkdfInfoID  = "wcbridge settings key id v1"
)

// Sealer encrypts setting values at rest with AES-256-GCM under a key derived
// by HKDF-SHA256 from the operator's secrets.key. The setting's name is the
// additional authenticated data, so a sealed value cannot be moved to another
// setting. Values sealed under a previous key are still opened, and reported
// as not current so they can be sealed again (rotation).
type Sealer struct {
	cur  sealKey
	prev []sealKey
}

type sealKey struct {
	id   string // 8 hex characters, derived from the key; shows which key sealed a value
	aead cipher.AEAD
}

// NewSealer returns a sealer that seals with key and opens values sealed with
// key or any of previous. Empty previous keys are ignored.
func NewSealer(key string, previous ...string) (*Sealer, error) {
	if key == "" {
		return nil, errors.New("sealer: empty key")
	}
	cur, err := newSealKey(key)
	if err != nil {
		return nil, err
	}
	s := &Sealer{cur: cur}
	for _, p := range previous {
		if p == "" || p == key {
			continue
		}
		k, err := newSealKey(p)
		if err != nil {
			return nil, err
		}
		s.prev = append(s.prev, k)
	}
	return s, nil
}

func newSealKey(material string) (sealKey, error) {
	key, err := hkdf.Key(sha256.New, []byte(material), nil, hkdfInfoKey, 32)
	if err != nil {
		return sealKey{}, fmt.Errorf("sealer: derive key: %w", err)
	}
	id, err := hkdf.Key(sha256.New, []byte(material), nil, hkdfInfoID, 4)
	if err != nil {
		return sealKey{}, fmt.Errorf("sealer: derive key id: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return sealKey{}, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealKey{}, fmt.Errorf("sealer: %w", err)
	}
	return sealKey{id: hex.EncodeToString(id), aead: aead}, nil
}

// KeyID is the id of the sealing key, as it appears in sealed values.
func (s *Sealer) KeyID() string { return s.cur.id }

// Sealed reports whether v is a sealed value.
func Sealed(v string) bool { return strings.HasPrefix(v, sealedPrefix) }

func aad(name string) []byte { return []byte("wcbridge setting " + name) }

// Seal encrypts plain for the setting name with a fresh random nonce.
func (s *Sealer) Seal(name, plain string) (string, error) {
	nonce := make([]byte, s.cur.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal %s: %w", name, err)
	}
	out := s.cur.aead.Seal(nonce, nonce, []byte(plain), aad(name))
	return sealedPrefix + s.cur.id + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// errNotOpened is why a sealed value could not be read; its text names no
// part of the value.
var errNotOpened = errors.New("sealed with a key this sidecar does not have (secrets.key or secrets.previous_key), or altered")

// Open decrypts a value Seal made for the setting name. current is false
// when a previous key sealed it.
func (s *Sealer) Open(name, v string) (plain string, current bool, err error) {
	rest, ok := strings.CutPrefix(v, sealedPrefix)
	if !ok {
		return "", false, errors.New("not a sealed value")
	}
	id, data, ok := strings.Cut(rest, ":")
	if !ok {
		return "", false, errNotOpened
	}
	raw, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil {
		return "", false, errNotOpened
	}
	for i, k := range append([]sealKey{s.cur}, s.prev...) {
		if k.id != id || len(raw) < k.aead.NonceSize() {
			continue
		}
		n := k.aead.NonceSize()
		b, err := k.aead.Open(nil, raw[:n], raw[n:], aad(name))
		if err != nil {
			continue
		}
		return string(b), i == 0, nil
	}
	return "", false, errNotOpened
}
