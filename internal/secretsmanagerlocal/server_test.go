package secretsmanagerlocal_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/campuspay/contracts/internal/secretsmanagerlocal"
)

// Fake values: the tests still never print them, so that a copy of these
// tests run against real secrets would not leak them either.
const (
	merchantName  = "campuspay/contracts/merchant"
	merchantValue = `{"mchid":"1900000001","private_key":"not-a-real-key"}`
	rotatedValue  = `{"mchid":"1900000001","private_key":"rotated-not-a-real-key"}`
)

// start serves s on 127.0.0.1 and returns a real SDK client pointed at it
// the way the function's will be: through AWS_ENDPOINT_URL_SECRETS_MANAGER,
// with static credentials and shared config files out of the way.
func start(t *testing.T, s *secretsmanagerlocal.Server, opts ...func(*config.LoadOptions) error) *secretsmanager.Client {
	t.Helper()
	hs := httptest.NewServer(s) // httptest listens on 127.0.0.1
	t.Cleanup(hs.Close)
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", hs.URL)
	base := []func(*config.LoadOptions) error{
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDLOCALTEST", "local-test-secret-key", "")),
		// Retry at once: the tests count attempts, not wait for backoff.
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		}),
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return secretsmanager.NewFromConfig(cfg)
}

// sameSecret compares secret strings without printing them.
func sameSecret(t *testing.T, got *string, want string) {
	t.Helper()
	if got == nil {
		t.Fatal("SecretString is missing")
	}
	if *got != want {
		t.Fatalf("SecretString differs from the stored value (%d bytes, want %d)", len(*got), len(want))
	}
}

func TestGetSecretValueByNameAndARN(t *testing.T) {
	s := secretsmanagerlocal.New()
	arn := s.Put(merchantName, merchantValue)
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:"+merchantName+"-") ||
		len(arn) != len("arn:aws:secretsmanager:us-east-1:123456789012:secret:"+merchantName+"-XXXXXX") {
		t.Fatalf("ARN %q is not of the form arn:aws:secretsmanager:<region>:<account>:secret:<name>-XXXXXX", arn)
	}
	c := start(t, s)
	for _, id := range []string{merchantName, arn, strings.TrimSuffix(arn, arn[len(arn)-7:])} {
		t.Run(id, func(t *testing.T) {
			out, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
			if err != nil {
				t.Fatal(err)
			}
			sameSecret(t, out.SecretString, merchantValue)
			if aws.ToString(out.ARN) != arn || aws.ToString(out.Name) != merchantName {
				t.Errorf("ARN, Name = %q, %q; want %q, %q", aws.ToString(out.ARN), aws.ToString(out.Name), arn, merchantName)
			}
			if len(out.VersionStages) != 1 || out.VersionStages[0] != "AWSCURRENT" {
				t.Errorf("VersionStages = %q, want [AWSCURRENT]", out.VersionStages)
			}
			if len(aws.ToString(out.VersionId)) != 36 {
				t.Errorf("VersionId = %q, want a UUID", aws.ToString(out.VersionId))
			}
			if out.CreatedDate == nil || time.Since(*out.CreatedDate).Abs() > time.Minute {
				t.Errorf("CreatedDate = %v, want about now", out.CreatedDate)
			}
		})
	}
	if got := s.Calls(); got != 3 {
		t.Errorf("Calls() = %d, want 3", got)
	}
}

func TestSameARNAcrossRunsNewAfterRecreation(t *testing.T) {
	a, b := secretsmanagerlocal.New(), secretsmanagerlocal.New()
	first := a.Put("x", "1")
	if b.Put("x", "1") != first {
		t.Error("the first ARN of a name differs between Servers; it should be stable across runs")
	}
	if a.Put("x", "2") != first {
		t.Error("rotation changed the ARN")
	}
	a.Delete("x")
	if a.Put("x", "3") == first {
		t.Error("a secret deleted and created again kept its ARN; AWS gives it a new suffix")
	}
}

func TestMissingSecret(t *testing.T) {
	s := secretsmanagerlocal.New()
	s.Put(merchantName, merchantValue)
	c := start(t, s)
	for _, id := range []string{"no/such/secret", "arn:aws:secretsmanager:us-east-1:123456789012:secret:no/such/secret-AbCdEf"} {
		_, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("GetSecretValue(%s): err = %v, want *types.ResourceNotFoundException", id, err)
		}
		if nf.ErrorMessage() == "" {
			t.Errorf("ResourceNotFoundException has no message")
		}
	}

	s.Delete(merchantName)
	_, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(merchantName)})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("after Delete: err = %v, want *types.ResourceNotFoundException", err)
	}
}

func TestFailNext(t *testing.T) {
	s := secretsmanagerlocal.New()
	s.Put(merchantName, merchantValue)
	c := start(t, s)
	get := func() error {
		out, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(merchantName)})
		if err == nil {
			sameSecret(t, out.SecretString, merchantValue)
		}
		return err
	}

	t.Run("InternalServiceError once is retried by the SDK", func(t *testing.T) {
		before := s.Calls()
		s.FailNext(1, "InternalServiceError", 500)
		if err := get(); err != nil {
			t.Fatalf("err = %v, want success on the SDK's retry", err)
		}
		if n := s.Calls() - before; n != 2 {
			t.Errorf("%d calls, want 2 (one failure, one retry)", n)
		}
	})
	t.Run("InternalServiceError on every attempt", func(t *testing.T) {
		before := s.Calls()
		s.FailNext(10, "InternalServiceError", 500)
		defer s.FailNext(0, "", 0)
		err := get()
		var ise *types.InternalServiceError
		if !errors.As(err, &ise) {
			t.Fatalf("err = %v, want *types.InternalServiceError", err)
		}
		if n := s.Calls() - before; n != 3 {
			t.Errorf("%d calls, want the SDK's default 3 attempts", n)
		}
	})
	t.Run("AccessDeniedException is not retried", func(t *testing.T) {
		before := s.Calls()
		s.FailNext(1, "AccessDeniedException", 400)
		err := get()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
			t.Fatalf("err = %v, want AccessDeniedException", err)
		}
		if n := s.Calls() - before; n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
		if err := get(); err != nil {
			t.Fatalf("after the failure: %v", err)
		}
	})
}

func TestRotation(t *testing.T) {
	s := secretsmanagerlocal.New()
	arn := s.Put(merchantName, merchantValue)
	c := start(t, s)
	ctx := context.Background()
	first, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(merchantName)})
	if err != nil {
		t.Fatal(err)
	}

	if got := s.Put(merchantName, rotatedValue); got != arn {
		t.Fatalf("rotation changed the ARN to %q", got)
	}
	cur, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	sameSecret(t, cur.SecretString, rotatedValue)
	if aws.ToString(cur.VersionId) == aws.ToString(first.VersionId) {
		t.Error("rotation kept the VersionId")
	}
	prev, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil {
		t.Fatal(err)
	}
	sameSecret(t, prev.SecretString, merchantValue)
	if aws.ToString(prev.VersionId) != aws.ToString(first.VersionId) {
		t.Error("AWSPREVIOUS is not the version that was AWSCURRENT")
	}
	byID, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionId: first.VersionId})
	if err != nil {
		t.Fatal(err)
	}
	sameSecret(t, byID.SecretString, merchantValue)

	// PutSecretValue, the SDK's own way to rotate.
	third := `{"mchid":"1900000001","private_key":"third"}`
	put, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(merchantName), SecretString: aws.String(third)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(put.ARN) != arn || len(put.VersionStages) != 1 || put.VersionStages[0] != "AWSCURRENT" {
		t.Errorf("PutSecretValue answered ARN %q, stages %q", aws.ToString(put.ARN), put.VersionStages)
	}
	cur, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(merchantName)})
	if err != nil {
		t.Fatal(err)
	}
	sameSecret(t, cur.SecretString, third)
	if aws.ToString(cur.VersionId) != aws.ToString(put.VersionId) {
		t.Error("GetSecretValue's VersionId is not the one PutSecretValue answered")
	}

	// PutSecretValue does not create secrets.
	_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("no/such"), SecretString: aws.String("x")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("PutSecretValue on a missing secret: err = %v, want *types.ResourceNotFoundException", err)
	}
}

func TestUnsignedSDKRequestRefused(t *testing.T) {
	s := secretsmanagerlocal.New()
	s.Put(merchantName, merchantValue)
	c := start(t, s, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	_, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(merchantName)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "MissingAuthenticationTokenException" {
		t.Fatalf("err = %v, want MissingAuthenticationTokenException", err)
	}
}

// TestProtocolStrictness sends hand-made requests that the SDK never would,
// to show that the endpoint refuses what AWS refuses.
func TestProtocolStrictness(t *testing.T) {
	s := secretsmanagerlocal.New()
	s.Put(merchantName, merchantValue)
	hs := httptest.NewServer(s)
	defer hs.Close()

	now := time.Now().UTC()
	goodAuth := "AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST/" + now.Format("20060102") +
		"/us-east-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + strings.Repeat("ab", 32)
	good := http.Header{
		"Authorization": {goodAuth},
		"X-Amz-Date":    {now.Format("20060102T150405Z")},
		"X-Amz-Target":  {"secretsmanager.GetSecretValue"},
		"Content-Type":  {"application/x-amz-json-1.1"},
	}
	body := `{"SecretId":"` + merchantName + `"}`
	with := func(k, v string) http.Header {
		h := good.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	// without drops a header from the request and from SignedHeaders.
	without := func(k string) http.Header {
		h := with(k, "")
		h.Set("Authorization", strings.Replace(goodAuth, ";"+strings.ToLower(k), "", 1))
		return h
	}
	tests := []struct {
		name     string
		method   string
		path     string
		header   http.Header
		body     string
		status   int
		wantType string
	}{
		{"well-formed", "POST", "/", good, body, 200, ""},
		{"no Authorization", "POST", "/", with("Authorization", ""), body, 400, "MissingAuthenticationTokenException"},
		{"other algorithm", "POST", "/", with("Authorization", strings.Replace(goodAuth, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1)), body, 400, "IncompleteSignatureException"},
		{"no Signature", "POST", "/", with("Authorization", goodAuth[:strings.Index(goodAuth, ", Signature")]), body, 400, "IncompleteSignatureException"},
		{"short Signature", "POST", "/", with("Authorization", goodAuth[:len(goodAuth)-2]), body, 400, "IncompleteSignatureException"},
		{"other service", "POST", "/", with("Authorization", strings.Replace(goodAuth, "/secretsmanager/", "/s3/", 1)), body, 400, "InvalidSignatureException"},
		{"bad terminator", "POST", "/", with("Authorization", strings.Replace(goodAuth, "aws4_request", "aws4_reqest", 1)), body, 400, "InvalidSignatureException"},
		{"host not signed", "POST", "/", with("Authorization", strings.Replace(goodAuth, "host;", "", 1)), body, 400, "IncompleteSignatureException"},
		{"signed header absent", "POST", "/", with("Authorization", strings.Replace(goodAuth, "x-amz-target", "x-amz-target;x-amz-security-token", 1)), body, 400, "InvalidSignatureException"},
		{"no date", "POST", "/", without("X-Amz-Date"), body, 400, "IncompleteSignatureException"},
		{"date off scope", "POST", "/", with("X-Amz-Date", now.AddDate(0, 0, -2).Format("20060102T150405Z")), body, 400, "InvalidSignatureException"},
		{"no target", "POST", "/", without("X-Amz-Target"), body, 400, "UnknownOperationException"},
		{"unknown target", "POST", "/", with("X-Amz-Target", "secretsmanager.DeleteSecret"), body, 400, "UnknownOperationException"},
		{"other service's target", "POST", "/", with("X-Amz-Target", "AmazonSSM.GetParameter"), body, 400, "UnknownOperationException"},
		{"plain JSON content type", "POST", "/", with("Content-Type", "application/json"), body, 400, "SerializationException"},
		{"not JSON", "POST", "/", good, "SecretId=x", 400, "SerializationException"},
		{"no SecretId", "POST", "/", good, `{}`, 400, "ValidationException"},
		{"GET", "GET", "/", good, "", 405, "UnknownOperationException"},
		{"other path", "POST", "/v1/secrets", good, body, 404, "UnknownOperationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, hs.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tt.header
			resp, err := hs.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			if resp.StatusCode != tt.status || got.Type != tt.wantType {
				t.Fatalf("status %d, __type %q; want %d, %q", resp.StatusCode, got.Type, tt.status, tt.wantType)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tt.wantType != "" {
				if h := resp.Header.Get("X-Amzn-ErrorType"); h != tt.wantType {
					t.Errorf("X-Amzn-ErrorType = %q, want %q", h, tt.wantType)
				}
				if got.Message == "" {
					t.Error("error without a message")
				}
				if strings.Contains(got.Message, "AKIDLOCALTEST") {
					t.Error("error message repeats the credential")
				}
			}
		})
	}
}

func TestPutFromFlag(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "merchant.json")
	if err := os.WriteFile(file, []byte(merchantValue), 0o600); err != nil {
		t.Fatal(err)
	}
	s := secretsmanagerlocal.New()
	name, arn, err := s.PutFromFlag(merchantName + "=@" + file)
	if err != nil || name != merchantName || !strings.Contains(arn, ":secret:"+merchantName+"-") {
		t.Fatalf("PutFromFlag = %q, %q, %v", name, arn, err)
	}
	for _, bad := range []string{merchantName + "=" + merchantValue, "=@" + file, merchantName + "=@", merchantName + "=@" + filepath.Join(dir, "missing.json")} {
		if _, _, err := s.PutFromFlag(bad); err == nil {
			t.Errorf("PutFromFlag accepted a malformed flag (%d bytes)", len(bad))
		} else if strings.Contains(err.Error(), "not-a-real-key") {
			t.Error("PutFromFlag's error repeats the secret value")
		}
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	ln, err := secretsmanagerlocal.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "localhost:0", "nonsense"} {
		if ln, err := secretsmanagerlocal.Listen(addr); err == nil {
			ln.Close()
			t.Errorf("Listen(%q) succeeded; only loopback IPs are allowed", addr)
		}
	}
}

func TestUnsupportedOperationViaSDK(t *testing.T) {
	s := secretsmanagerlocal.New()
	s.Put(merchantName, merchantValue)
	c := start(t, s)
	_, err := c.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(merchantName)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnknownOperationException" {
		t.Fatalf("err = %v, want UnknownOperationException", err)
	}
	if s.Calls() != 0 {
		t.Errorf("Calls() = %d after a DescribeSecret; it counts GetSecretValue only", s.Calls())
	}
}
