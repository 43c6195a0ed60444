package devstack

import (
	"fmt"
	"io"

	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

// PrintUsage writes what to try against a started stack: the seeded demo
// user's first page, its second page, a request the function refuses, and a
// direct invocation of the emulator with the sample event. It prints
// addresses only, never a key.
func PrintUsage(w io.Writer, e Endpoints, mode devkeys.Mode) {
	base := fmt.Sprintf("%s/users/%s/contracts?plan_id=%s&contract_status=ALL",
		e.APIURL(), wechatpaysim.DemoOpenID, wechatpaysim.DemoPlanID)
	fmt.Fprintf(w, `
devstack: up (mode %s). Local API on %s, WeChat Pay simulator on http://%s,
Secrets Manager on http://%s (secret %s). Try:

  curl '%s'
  curl '%s&offset=20'
  curl '%s&limit=41'          # 400 INVALID_PARAMETER (limit)

Invoke the function directly through the emulator:

  curl -d @events/direct-flat.json %s

The function's log lines follow on standard output. Ctrl-C stops everything.

`, mode, e.APIURL(), e.WeChatPay, e.Secrets, SecretName, base, base, base, e.InvokeURL())
}
