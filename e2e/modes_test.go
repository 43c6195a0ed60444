package e2e

import (
	"net/http"
	"testing"

	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

// TestMerchantKinds: a merchant with only the WeChat Pay public key, one with
// only platform certificates, one with only an APIv3 key (certificates
// downloaded), and one in mid-migration all get verified answers; a forged
// or unknown-serial answer is refused in every mode.
func TestMerchantKinds(t *testing.T) {
	tests := []struct {
		mode devkeys.Mode
		sign wechatpaysim.SignMode
	}{
		{devkeys.ModePublicKey, wechatpaysim.SignPublicKey},
		{devkeys.ModeCertificates, wechatpaysim.SignCertificate},
		{devkeys.ModeAPIv3Key, wechatpaysim.SignCertificate},
		{devkeys.ModeMigration, wechatpaysim.SignAlternate},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			s := newStack(t, options{mode: tt.mode, signMode: tt.sign})
			for i := range 3 { // in migration, answers alternate between the keys
				a := s.callHTTP(httpV2(t, goodQuery))
				if a.StatusCode != http.StatusOK {
					t.Fatalf("answer %d: %d %s", i, a.StatusCode, a.Body)
				}
				checkPage(t, s, []byte(a.Body), "ADD", 0, 20, "/users/oUpF8uMuAJOM2pxb1Q/contracts")
			}
			downloads := 0
			for _, r := range s.sim.Requests() {
				if r.RequestURI == "/v3/certificates" {
					downloads++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tt.mode == devkeys.ModeAPIv3Key]; downloads != want {
				t.Errorf("%d certificate downloads; want %d", downloads, want)
			}
			for _, f := range []wechatpaysim.Fault{{BadSignature: true}, {UnknownSerial: true}} {
				s.sim.Push(f)
				a := s.callHTTP(httpV2(t, goodQuery))
				if b := decodeError(t, a.Body); a.StatusCode != 502 || b.Error.Code != "UPSTREAM_SIGNATURE_INVALID" {
					t.Errorf("fault %+v: %d %s", f, a.StatusCode, a.Body)
				}
			}
		})
	}
}
