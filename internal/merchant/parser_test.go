package merchant

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/wechatpay"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

const contractsPath = "/v3/eduschoolpay/users/" + wechatpaysim.DemoOpenID + "/contracts?plan_id=" +
	wechatpaysim.DemoPlanID + "&contract_status=ADD&offset=0&limit=20"

func TestParser(t *testing.T) {
	id, err := devkeys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	secret := func(mode devkeys.Mode, withAPIv3Key bool) string {
		b, err := id.SecretJSON(mode)
		if err != nil {
			t.Fatal(err)
		}
		if withAPIv3Key {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			m["apiv3_key"] = id.APIv3Key
			b, _ = json.Marshal(m)
		}
		return string(b)
	}
	// stack is the simulator and the store one sandbox would hold.
	stack := func(t *testing.T, cfg wechatpaysim.Config) (*wechatpaysim.Server, *wechatpay.Client, *wechatpay.CertificateStore) {
		cfg.Identity = id
		sim := wechatpaysim.New(cfg)
		srv := httptest.NewServer(sim)
		t.Cleanup(srv.Close)
		c := &wechatpay.Client{HTTP: srv.Client(), BaseURL: srv.URL, UserAgent: "test/1.0", AttemptTimeout: 2 * time.Second}
		return sim, c, &wechatpay.CertificateStore{Client: c}
	}
	downloads := func(sim *wechatpaysim.Server) int {
		n := 0
		for _, r := range sim.Requests() {
			if r.RequestURI == "/v3/certificates" {
				n++
			}
		}
		return n
	}
	get := func(c *wechatpay.Client, m *Merchant) error {
		_, _, err := c.Get(context.Background(), &m.Credentials, contractsPath)
		return err
	}

	t.Run("APIv3 key alone downloads certificates", func(t *testing.T) {
		sim, c, store := stack(t, wechatpaysim.Config{SignMode: wechatpaysim.SignCertificate})
		parse := Parser(store)
		m, err := parse(secret(devkeys.ModeAPIv3Key, false))
		if err != nil {
			t.Fatal(err)
		}
		if m.Credentials.Verifier == nil || string(m.APIv3Key) != id.APIv3Key {
			t.Fatalf("verifier %T, APIv3 key set %v", m.Credentials.Verifier, m.APIv3Key != nil)
		}
		if err := get(c, m); err != nil {
			t.Fatal(err)
		}
		// A refreshed secret is parsed anew; the certificates stay in the store.
		again, err := parse(secret(devkeys.ModeAPIv3Key, false))
		if err != nil {
			t.Fatal(err)
		}
		if err := get(c, again); err != nil {
			t.Fatal(err)
		}
		if n := downloads(sim); n != 1 {
			t.Errorf("%d downloads; want 1", n)
		}
	})

	t.Run("migration with the APIv3 key verifies either signer", func(t *testing.T) {
		sim, c, store := stack(t, wechatpaysim.Config{SignMode: wechatpaysim.SignAlternate, RequireSerialHeader: true})
		m, err := Parser(store)(secret(devkeys.ModePublicKey, true))
		if err != nil {
			t.Fatal(err)
		}
		if m.Credentials.PublicKeyID != id.PublicKeyID {
			t.Errorf("PublicKeyID %q", m.Credentials.PublicKeyID)
		}
		for i := range 4 {
			if err := get(c, m); err != nil {
				t.Fatalf("answer %d: %v", i, err)
			}
		}
		if n := downloads(sim); n != 1 {
			t.Errorf("%d downloads; want 1", n)
		}
		// An unknown serial is refused.
		sim.Push(wechatpaysim.Fault{UnknownSerial: true})
		var se *wechatpay.SignatureError
		if err := get(c, m); !errors.As(err, &se) || !errors.Is(err, wechatpay.ErrUnknownSerial) {
			t.Errorf("err = %v; want an unknown serial", err)
		}
	})

	t.Run("configured certificates are used before any download", func(t *testing.T) {
		sim, c, store := stack(t, wechatpaysim.Config{SignMode: wechatpaysim.SignCertificate})
		m, err := Parser(store)(secret(devkeys.ModeCertificates, true))
		if err != nil {
			t.Fatal(err)
		}
		if err := get(c, m); err != nil {
			t.Fatal(err)
		}
		if n := downloads(sim); n != 0 {
			t.Errorf("%d downloads; want 0", n)
		}
	})

	t.Run("without APIv3 key or store nothing is downloaded", func(t *testing.T) {
		_, _, store := stack(t, wechatpaysim.Config{})
		m, err := Parser(store)(secret(devkeys.ModePublicKey, false))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.Credentials.Verifier.(*wechatpay.PublicKeyVerifier); !ok {
			t.Errorf("verifier %T; want the public key's alone", m.Credentials.Verifier)
		}
		m, err = Parse(secret(devkeys.ModeAPIv3Key, false))
		if err != nil {
			t.Fatal(err)
		}
		if m.Credentials.Verifier != nil || m.APIv3Key == nil {
			t.Errorf("Parse: verifier %T, APIv3 key set %v", m.Credentials.Verifier, m.APIv3Key != nil)
		}
	})
}
