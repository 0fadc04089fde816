package nbi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// TokenPrefix starts every API token, so that a leaked one is easy to
// recognise (and to scan for).
const TokenPrefix = "pvs_"

// NewToken makes a token: TokenPrefix and 32 random bytes, and the hash
// that is stored instead of it.
func NewToken() (secret string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashToken(secret)
}

// HashToken is what the store keeps of a token. The token is 256 random
// bits, so a plain SHA-256 cannot be reversed by guessing, and stays fast
// enough to check on every request.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

type principal struct {
	id   int64
	name string
	role Role
}

// tokenCache keeps recent token lookups for ttl, so that a busy client
// does not cost a store read per request. Revocation through the API
// clears it at once; a revocation by another process shows within ttl.
type tokenCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedToken
}

type cachedToken struct {
	t       store.Token
	fetched time.Time
	touched time.Time
}

func (c *tokenCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

func (s *Server) lookupToken(ctx context.Context, hash []byte) (store.Token, error) {
	key := string(hash)
	now := s.cfg.Now()
	c := &s.tokens
	c.mu.Lock()
	ct, ok := c.m[key]
	c.mu.Unlock()
	if !ok || now.Sub(ct.fetched) > c.ttl {
		t, err := s.st.TokenByHash(ctx, hash)
		if err != nil {
			return t, err
		}
		ct = cachedToken{t: t, fetched: now, touched: ct.touched}
	}
	touch := now.Sub(ct.touched) > time.Minute
	if touch {
		ct.touched = now
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10_000 {
		c.m = map[string]cachedToken{}
	}
	c.m[key] = ct
	c.mu.Unlock()
	if touch {
		if err := s.st.TouchToken(ctx, ct.t.ID, now); err != nil {
			s.log.Debug("token use not recorded", "err", err)
		}
	}
	return ct.t, nil
}

// authenticate checks the bearer token.
func (s *Server) authenticate(r *http.Request) (*principal, *Problem) {
	unauthorized := func(detail string) *Problem {
		return problem(http.StatusUnauthorized, "unauthorized", detail)
	}
	h := r.Header.Get("Authorization")
	scheme, secret, _ := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return nil, unauthorized("send Authorization: Bearer <token>; create tokens with `provisor token create`")
	}
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 128 {
		return nil, unauthorized("not a Provisor token")
	}
	t, err := s.lookupToken(r.Context(), HashToken(secret))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, unauthorized("unknown token")
	case err != nil:
		s.log.Error("token lookup failed", "err", err)
		return nil, problem(http.StatusServiceUnavailable, "unavailable", "cannot check the token now")
	case !t.Revoked.IsZero():
		return nil, unauthorized("token revoked")
	case !t.Expires.IsZero() && !s.cfg.Now().Before(t.Expires):
		return nil, unauthorized("token expired")
	}
	role, ok := ParseRole(t.Role)
	if !ok {
		return nil, problem(http.StatusForbidden, "forbidden", "token has an unknown role "+strconv.Quote(t.Role))
	}
	return &principal{id: t.ID, name: t.Name + "#" + strconv.FormatInt(t.ID, 10), role: role}, nil
}

// challenge adds the WWW-Authenticate header RFC 6750 asks for on 401.
func challenge(w http.ResponseWriter, p *Problem) {
	if p.Status == http.StatusUnauthorized {
		v := `Bearer realm="provisor"`
		if p.Detail != "" && !strings.HasPrefix(p.Detail, "send ") {
			v += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
}
