package secrets

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// fakeAPI answers GetSecretValue from a value it can change.
type fakeAPI struct {
	mu      sync.Mutex
	value   string
	version string
	err     error
	calls   atomic.Int32
	gate    chan struct{} // when set, each call waits on it
}

func (f *fakeAPI) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value), VersionId: aws.String(f.version)}, nil
}

func (f *fakeAPI) set(value, version string, err error) {
	f.mu.Lock()
	f.value, f.version, f.err = value, version, err
	f.mu.Unlock()
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newCache(api *fakeAPI, c *clock, parses *atomic.Int32) *Cache[string] {
	return &Cache[string]{
		Client: api, SecretID: "campuspay/merchant", TTL: time.Minute, Grace: time.Minute,
		MinRefreshInterval: 10 * time.Second, Now: c.now,
		Parse: func(s string) (string, error) {
			parses.Add(1)
			if strings.HasPrefix(s, "bad") {
				return "", errors.New("private_key is required")
			}
			return "parsed:" + s, nil
		},
	}
}

func TestCacheTTL(t *testing.T) {
	api := &fakeAPI{value: "v1", version: "1"}
	c := &clock{time.Unix(1_700_000_000, 0)}
	var parses atomic.Int32
	cache := newCache(api, c, &parses)
	ctx := context.Background()

	v, origin, err := cache.Get(ctx)
	if err != nil || v != "parsed:v1" || origin != FromFetch {
		t.Fatalf("first Get = %q %s %v", v, origin, err)
	}
	c.advance(59 * time.Second)
	if v, origin, _ = cache.Get(ctx); origin != FromCache || api.calls.Load() != 1 {
		t.Fatalf("within TTL: %s, %d calls", origin, api.calls.Load())
	}
	c.advance(2 * time.Second)
	api.set("v2", "2", nil)
	if v, origin, _ = cache.Get(ctx); v != "parsed:v2" || origin != FromFetch || api.calls.Load() != 2 {
		t.Fatalf("past TTL: %q %s, %d calls", v, origin, api.calls.Load())
	}
	// The same version again is not parsed again.
	c.advance(2 * time.Minute)
	cache.Get(ctx)
	if api.calls.Load() != 3 || parses.Load() != 2 {
		t.Errorf("calls %d parses %d", api.calls.Load(), parses.Load())
	}
}

func TestCacheZeroTTLFetchesEveryTime(t *testing.T) {
	api := &fakeAPI{value: "v1", version: "1"}
	var parses atomic.Int32
	cache := newCache(api, &clock{time.Unix(1, 0)}, &parses)
	cache.TTL = 0
	cache.Get(context.Background())
	cache.Get(context.Background())
	if api.calls.Load() != 2 {
		t.Errorf("calls %d", api.calls.Load())
	}
}

func TestCacheStaleGrace(t *testing.T) {
	api := &fakeAPI{value: "v1", version: "1"}
	c := &clock{time.Unix(1_700_000_000, 0)}
	var parses atomic.Int32
	cache := newCache(api, c, &parses)
	ctx := context.Background()
	cache.Get(ctx)

	api.set("", "", errors.New("service unavailable"))
	c.advance(90 * time.Second) // past TTL, within TTL+Grace
	v, origin, err := cache.Get(ctx)
	if v != "parsed:v1" || origin != FromStale || err == nil {
		t.Fatalf("within grace: %q %s %v", v, origin, err)
	}
	c.advance(time.Minute) // past TTL+Grace
	v, _, err = cache.Get(ctx)
	var se *Error
	if v != "" || !errors.As(err, &se) || se.Reason != ReasonCallFailed {
		t.Fatalf("past grace: %q %v", v, err)
	}
	// A failure is not cached: the next call tries again and recovers.
	api.set("v3", "3", nil)
	if v, origin, err = cache.Get(ctx); v != "parsed:v3" || origin != FromFetch || err != nil {
		t.Fatalf("recovered: %q %s %v", v, origin, err)
	}
}

func TestCacheErrorsNeverQuoteTheSecret(t *testing.T) {
	api := &fakeAPI{value: "bad-----BEGIN PRIVATE KEY-----MIIsecret", version: "1"}
	var parses atomic.Int32
	cache := newCache(api, &clock{time.Unix(1, 0)}, &parses)
	_, _, err := cache.Get(context.Background())
	var se *Error
	if !errors.As(err, &se) || se.Reason != ReasonMalformed {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "MIIsecret") {
		t.Errorf("error quotes the secret: %v", err)
	}

	api.set("", "", &types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")})
	_, _, err = cache.Get(context.Background())
	if !errors.As(err, &se) || se.Reason != ReasonNotFound {
		t.Errorf("not found: %v", err)
	}
}

func TestCacheRefreshIsRateLimited(t *testing.T) {
	api := &fakeAPI{value: "v1", version: "1"}
	c := &clock{time.Unix(1_700_000_000, 0)}
	var parses atomic.Int32
	cache := newCache(api, c, &parses)
	ctx := context.Background()
	cache.Get(ctx)

	api.set("v2", "2", nil)
	if v, origin, _ := cache.Refresh(ctx); v != "parsed:v2" || origin != FromFetch {
		t.Fatalf("first refresh: %q %s", v, origin)
	}
	api.set("v3", "3", nil)
	if v, origin, _ := cache.Refresh(ctx); v != "parsed:v2" || origin != FromLimited || api.calls.Load() != 2 {
		t.Fatalf("second refresh within the interval: %q %s calls %d", v, origin, api.calls.Load())
	}
	c.advance(11 * time.Second)
	if v, _, _ := cache.Refresh(ctx); v != "parsed:v3" || api.calls.Load() != 3 {
		t.Fatalf("refresh after the interval: %q calls %d", v, api.calls.Load())
	}
}

func TestCacheSingleFlight(t *testing.T) {
	api := &fakeAPI{value: "v1", version: "1", gate: make(chan struct{})}
	var parses atomic.Int32
	cache := newCache(api, &clock{time.Unix(1, 0)}, &parses)
	const n = 8
	var wg sync.WaitGroup
	results := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _, _ = cache.Get(context.Background())
		}()
	}
	// Let every goroutine reach the cache, then release the one fetch.
	for api.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(api.gate)
	wg.Wait()
	if api.calls.Load() != 1 {
		t.Errorf("%d fetches for %d concurrent callers", api.calls.Load(), n)
	}
	for _, r := range results {
		if r != "parsed:v1" {
			t.Errorf("result %q", r)
		}
	}
}
