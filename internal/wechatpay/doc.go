// Package wechatpay is a small client of WeChat Pay APIv3 that would serve any
// endpoint: it signs requests (WECHATPAY2-SHA256-RSA2048), verifies the
// signatures of answers, decodes WeChat Pay's errors, and retries with
// failover to the backup domain.
//
// It is handed Credentials and an *http.Client and knows nothing of where
// they came from: not Lambda, not API Gateway, not Secrets Manager.
//
// The pieces are separate small types, as in WeChat Pay's own SDKs:
// a Signer makes request signatures, a Verifier checks answer signatures
// (PublicKeyVerifier for the WeChat Pay public key, CertificateVerifier for
// platform certificates, Verifiers for both during a migration), and Client
// puts them on the wire.
package wechatpay
