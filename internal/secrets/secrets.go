// Package secrets reads a secret from AWS Secrets Manager and keeps it for a
// while, parsed, so that a warm Lambda sandbox neither calls Secrets Manager
// nor parses keys on every request.
//
// The official caching client (aws-secretsmanager-caching-go) is not used:
// this one is smaller, parses once per version, shares one fetch among
// concurrent callers, rate-limits forced refreshes, and can serve the last
// good value for a bounded time when Secrets Manager fails.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// GetSecretValueAPI is the one Secrets Manager call the cache makes;
// *secretsmanager.Client implements it.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Origin says where a value handed out came from.
type Origin string

// The origins of a value.
const (
	FromCache   Origin = "cache"   // held, within its TTL
	FromFetch   Origin = "fetch"   // fetched from Secrets Manager for this call
	FromStale   Origin = "stale"   // held past its TTL because a refresh failed
	FromLimited Origin = "limited" // a forced refresh was refused by the rate limit; the held value
)

// Defaults of the cache's optional settings.
const (
	DefaultTTL                = 5 * time.Minute
	DefaultGrace              = 15 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
)

// Reason classifies why a secret could not be had.
type Reason string

// The reasons of an Error.
const (
	ReasonNotFound     Reason = "not_found"
	ReasonAccessDenied Reason = "access_denied"
	ReasonCallFailed   Reason = "call_failed"
	ReasonMalformed    Reason = "malformed"
)

// Error is a secret that could not be had. Its message names the secret and
// the cause, never the secret's value.
type Error struct {
	SecretID string
	Reason   Reason
	Err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("secret %q: %s: %v", e.SecretID, e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Cache holds one secret, parsed into T by Parse.
type Cache[T any] struct {
	Client   GetSecretValueAPI
	SecretID string
	// Parse turns the SecretString into the value handed out. Its errors
	// must not quote the secret.
	Parse func(secretString string) (T, error)
	// TTL is how long a fetched value is used before it is fetched again;
	// zero fetches on every Get.
	TTL time.Duration
	// Grace is how long past its TTL a value may still be served when
	// fetching again fails; zero means DefaultGrace, negative none.
	Grace time.Duration
	// MinRefreshInterval spaces out forced refreshes (Refresh), so that
	// an upstream that keeps answering 401 cannot hammer Secrets Manager.
	MinRefreshInterval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu         sync.Mutex
	value      T
	version    string
	have       bool
	fetchedAt  time.Time
	lastForced time.Time
	flight     *flight[T]
}

// flight is one fetch in progress, shared by every caller that needs it.
type flight[T any] struct {
	done  chan struct{}
	value T
	err   error
}

// Get returns the secret: the held value within its TTL, else a fresh one.
// When the fetch fails and a value held within TTL+Grace exists, that value
// is returned with FromStale and the fetch error alongside it, for logging.
func (c *Cache[T]) Get(ctx context.Context) (T, Origin, error) {
	c.mu.Lock()
	if c.have && c.now().Sub(c.fetchedAt) < c.ttl() {
		v := c.value
		c.mu.Unlock()
		return v, FromCache, nil
	}
	return c.fetchLocked(ctx)
}

// Refresh fetches the secret past the cache, as after WeChat Pay refused a
// key that may have been rotated. Within MinRefreshInterval of the last
// forced refresh it fetches nothing and returns the held value (FromLimited).
func (c *Cache[T]) Refresh(ctx context.Context) (T, Origin, error) {
	c.mu.Lock()
	now := c.now()
	if c.have && !c.lastForced.IsZero() && now.Sub(c.lastForced) < c.minRefresh() {
		v := c.value
		c.mu.Unlock()
		return v, FromLimited, nil
	}
	c.lastForced = now
	return c.fetchLocked(ctx)
}

// fetchLocked joins or starts a fetch; c.mu must be held and is released.
func (c *Cache[T]) fetchLocked(ctx context.Context) (T, Origin, error) {
	f := c.flight
	if f == nil {
		f = &flight[T]{done: make(chan struct{})}
		c.flight = f
		c.mu.Unlock()
		f.value, f.err = c.fetch(ctx)
		c.mu.Lock()
		c.flight = nil
		if f.err == nil {
			c.value, c.have, c.fetchedAt = f.value, true, c.now()
		}
		close(f.done)
	} else {
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			var zero T
			return zero, FromFetch, &Error{SecretID: c.SecretID, Reason: ReasonCallFailed, Err: ctx.Err()}
		}
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	if f.err == nil {
		return f.value, FromFetch, nil
	}
	if c.have && c.now().Sub(c.fetchedAt) < c.ttl()+c.grace() && !isMalformed(f.err) {
		return c.value, FromStale, f.err
	}
	var zero T
	return zero, FromFetch, f.err
}

func isMalformed(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Reason == ReasonMalformed
}

// fetch calls Secrets Manager and parses the answer. A version already held
// is not parsed again.
func (c *Cache[T]) fetch(ctx context.Context) (T, error) {
	var zero T
	out, err := c.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.SecretID)})
	if err != nil {
		return zero, &Error{SecretID: c.SecretID, Reason: classify(err), Err: err}
	}
	version := aws.ToString(out.VersionId)
	c.mu.Lock()
	if c.have && version != "" && version == c.version {
		v := c.value
		c.mu.Unlock()
		return v, nil
	}
	c.mu.Unlock()
	if out.SecretString == nil {
		return zero, &Error{SecretID: c.SecretID, Reason: ReasonMalformed, Err: errors.New("the secret has no SecretString")}
	}
	v, err := c.Parse(*out.SecretString)
	if err != nil {
		return zero, &Error{SecretID: c.SecretID, Reason: ReasonMalformed, Err: err}
	}
	c.mu.Lock()
	c.version = version
	c.mu.Unlock()
	return v, nil
}

func classify(err error) Reason {
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return ReasonNotFound
	}
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException" {
		return ReasonAccessDenied
	}
	return ReasonCallFailed
}

func (c *Cache[T]) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ttl is the TTL as set: zero means every Get fetches.
func (c *Cache[T]) ttl() time.Duration { return c.TTL }

func (c *Cache[T]) grace() time.Duration {
	switch {
	case c.Grace < 0:
		return 0
	case c.Grace == 0:
		return DefaultGrace
	}
	return c.Grace
}

func (c *Cache[T]) minRefresh() time.Duration {
	if c.MinRefreshInterval > 0 {
		return c.MinRefreshInterval
	}
	return DefaultMinRefreshInterval
}
