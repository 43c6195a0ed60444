// Command contracts is the Lambda function's bootstrap. It only wires the
// pieces together: configuration, the logger, the per-sandbox HTTP client,
// the WeChat Pay client and the secret cache, then hands the service to the
// Lambda runtime.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/campuspay/contracts/internal/config"
	"github.com/campuspay/contracts/internal/contracts"
	"github.com/campuspay/contracts/internal/logging"
	"github.com/campuspay/contracts/internal/merchant"
	"github.com/campuspay/contracts/internal/metrics"
	"github.com/campuspay/contracts/internal/secrets"
	"github.com/campuspay/contracts/internal/wechatpay"
)

func main() {
	log := logging.ForLambda(os.Getenv)
	cfg, cfgErr := config.Load(os.Getenv)

	// One client for the life of the sandbox, so warm invocations reuse
	// their connection (and TLS session) to WeChat Pay.
	httpClient := wechatpay.NewHTTPClient(nil)

	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil && cfgErr == nil {
		cfgErr = fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfgErr != nil {
		log.Error("configuration", "error", cfgErr.Error())
	}

	wechatPay := &wechatpay.Client{
		HTTP:           httpClient,
		BaseURL:        cfg.BaseURL,
		BackupBaseURL:  cfg.BackupBaseURL,
		UserAgent:      wechatpay.UserAgent,
		AttemptTimeout: cfg.UpstreamTimeout,
	}
	// Platform certificates downloaded with the APIv3 key live as long as
	// the sandbox, across secret refreshes.
	platformCerts := &wechatpay.CertificateStore{Client: wechatPay}

	svc := &contracts.Service{
		Merchants: &secrets.Cache[*merchant.Merchant]{
			Client:   secretsmanager.NewFromConfig(awsCfg),
			SecretID: cfg.SecretID,
			Parse:    merchant.Parser(platformCerts),
			TTL:      cfg.SecretCacheTTL,
		},
		WeChatPay: wechatPay,
		Log:       log,
		Metrics: &metrics.Emitter{W: os.Stdout, Namespace: cfg.MetricsNS,
			FunctionName: os.Getenv("AWS_LAMBDA_FUNCTION_NAME")},
		ConfigErr: cfgErr,
	}
	lambda.Start(svc)
}
