// Command helloworld is the baseline of cmd/coldstart: the least a Go
// Lambda function of this shape does before its first answer. Like the
// real bootstrap it links aws-lambda-go and the AWS SDK's configuration and
// Secrets Manager client, loads the AWS configuration and creates the
// client in main; unlike it, it fetches nothing and answers a constant, so
// the cold-start ratio real/hello is the cost of the function's own work.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// answer is the constant result of every invocation.
var answer = []byte(`{"hello":"world"}`)

// hello answers every invocation with answer. It holds the Secrets Manager
// client, as the real function's secret cache does, without calling it.
type hello struct {
	secrets *secretsmanager.Client
}

// Invoke implements lambda.Handler.
func (h *hello) Invoke(context.Context, []byte) ([]byte, error) { return answer, nil }

func main() {
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "load AWS configuration:", err)
	}
	lambda.Start(&hello{secrets: secretsmanager.NewFromConfig(cfg)})
}
