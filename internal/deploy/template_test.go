package deploy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/config"
	"github.com/campuspay/contracts/internal/deploy"
)

// What the template must say, from the code's side.
const (
	repoRoot    = "../.."
	functionID  = "ContractsFunction"
	apiID       = "ContractsApi"
	routeMethod = "GET"
	routePath   = "/users/{openid}/contracts"
	secretParam = "SecretArn"
	keyParam    = "KmsKeyArn"
	buildTarget = "build-" + functionID
)

// checks are the template checks with this repository's expectations.
func checks() map[string]func(*deploy.Template) []error {
	return map[string]func(*deploy.Template) []error{
		"function": func(t *deploy.Template) []error { return deploy.CheckFunction(t, functionID) },
		"environment": func(t *deploy.Template) []error {
			return deploy.CheckEnvironment(t, functionID, config.Variables, config.GoRuntimeEnv)
		},
		"policy":     func(t *deploy.Template) []error { return deploy.CheckPolicy(t, functionID, secretParam, keyParam) },
		"api":        func(t *deploy.Template) []error { return deploy.CheckAPI(t, functionID, apiID, routeMethod, routePath) },
		"references": deploy.CheckReferences,
	}
}

func load(t *testing.T) *deploy.Template {
	t.Helper()
	tpl, err := deploy.Load(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestTemplate holds template.yaml to the code.
func TestTemplate(t *testing.T) {
	tpl := load(t)
	for name, check := range checks() {
		t.Run(name, func(t *testing.T) {
			for _, err := range check(tpl) {
				t.Error(err)
			}
		})
	}
	t.Run("Makefile has "+buildTarget, testMakefile)
}

// testMakefile checks that `sam build` (BuildMethod: makefile) will find
// the target it runs, make build-ContractsFunction, with ARTIFACTS_DIR set.
func testMakefile(t *testing.T) {
	path := filepath.Join(repoRoot, "Makefile")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		t.Skipf("no Makefile at the repository root yet: skipping only the check for its %s target", buildTarget)
	}
	for _, err := range checkMakefile(path) {
		t.Error(err)
	}
}

// checkMakefile reports whether the Makefile at path has the target
// buildTarget and mentions ARTIFACTS_DIR, where SAM wants bootstrap.
func checkMakefile(path string) []error {
	f, err := os.Open(path)
	if err != nil {
		return []error{err}
	}
	defer f.Close()
	var target, artifacts bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		target = target || strings.HasPrefix(line, buildTarget+":")
		artifacts = artifacts || strings.Contains(line, "ARTIFACTS_DIR")
	}
	if err := sc.Err(); err != nil {
		return []error{err}
	}
	var errs []error
	if !target {
		errs = append(errs, fmt.Errorf("the Makefile has no %s: target, which `sam build` runs for BuildMethod: makefile", buildTarget))
	}
	if !artifacts {
		errs = append(errs, fmt.Errorf("the Makefile never mentions ARTIFACTS_DIR, where `sam build` expects %s to write bootstrap", buildTarget))
	}
	return errs
}

func TestCheckMakefile(t *testing.T) {
	dir := t.TempDir()
	for name, tt := range map[string]struct {
		text string
		errs int
	}{
		"good":             {".PHONY: build-ContractsFunction\nbuild-ContractsFunction:\n\tGOARCH=arm64 go build -o $(ARTIFACTS_DIR)/bootstrap ./functions/contracts\n", 0},
		"no target":        {"build:\n\tgo build -o $(ARTIFACTS_DIR)/bootstrap ./functions/contracts\n", 1},
		"no ARTIFACTS_DIR": {"build-ContractsFunction:\n\tgo build -o bootstrap ./functions/contracts\n", 1},
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
			t.Fatal(err)
		}
		if errs := checkMakefile(path); len(errs) != tt.errs {
			t.Errorf("%s: %d errors %v, want %d", name, len(errs), errs, tt.errs)
		}
	}
}

// Navigation in a parsed template, for the broken copies below.
func obj(t *testing.T, v any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("template has no mapping at %s", strings.Join(keys, "."))
		}
		v = m[k]
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("template has no mapping at %s", strings.Join(keys, "."))
	}
	return m
}

func function(t *testing.T, root map[string]any) map[string]any {
	return obj(t, root, "Resources", functionID, "Properties")
}

func statements(t *testing.T, root map[string]any) []any {
	t.Helper()
	docs, _ := function(t, root)["Policies"].([]any)
	if len(docs) == 0 {
		t.Fatal("template has no Policies")
	}
	s, _ := docs[0].(map[string]any)["Statement"].([]any)
	if len(s) < 2 {
		t.Fatal("template's policy has fewer than two statements")
	}
	return s
}

func ref(name string) map[string]any { return map[string]any{"Ref": name} }

// TestBrokenTemplates feeds each check a copy of template.yaml broken in one
// way it must catch, so that a check that passes everything cannot hide.
func TestBrokenTemplates(t *testing.T) {
	tests := []struct {
		name   string
		check  string
		breaks func(t *testing.T, root map[string]any)
		want   string // in one of the errors
	}{
		// function
		{"handler", "function", func(t *testing.T, r map[string]any) { function(t, r)["Handler"] = "main" }, "Handler"},
		{"runtime", "function", func(t *testing.T, r map[string]any) { function(t, r)["Runtime"] = "go1.x" }, "Runtime"},
		{"architecture", "function", func(t *testing.T, r map[string]any) { function(t, r)["Architectures"] = []any{"x86_64"} }, "Architectures"},
		{"build method", "function", func(t *testing.T, r map[string]any) {
			obj(t, r, "Resources", functionID, "Metadata")["BuildMethod"] = "go1.x"
		}, "BuildMethod"},
		{"memory too small", "function", func(t *testing.T, r map[string]any) { function(t, r)["MemorySize"] = 64 }, "MemorySize"},
		{"memory not literal", "function", func(t *testing.T, r map[string]any) { function(t, r)["MemorySize"] = ref("LogLevel") }, "MemorySize"},
		{"timeout at API Gateway's limit", "function", func(t *testing.T, r map[string]any) { function(t, r)["Timeout"] = 30 }, "Timeout"},
		{"text logs", "function", func(t *testing.T, r map[string]any) {
			obj(t, function(t, r), "LoggingConfig")["LogFormat"] = "Text"
		}, "LogFormat"},
		{"handler from Globals", "function", func(t *testing.T, r map[string]any) {
			delete(function(t, r), "Handler")
			r["Globals"] = map[string]any{"Function": map[string]any{"Handler": "main"}}
		}, "Handler"},

		// environment
		{"extra variable", "environment", func(t *testing.T, r map[string]any) {
			obj(t, function(t, r), "Environment", "Variables")["DEBUG_DUMP"] = ref("LogLevel")
		}, "DEBUG_DUMP, which the code does not read"},
		{"extra variable in Globals", "environment", func(t *testing.T, r map[string]any) {
			r["Globals"] = map[string]any{"Function": map[string]any{"Environment": map[string]any{"Variables": map[string]any{"TZ": "UTC"}}}}
		}, "TZ, which the code does not read"},
		{"missing variable", "environment", func(t *testing.T, r map[string]any) {
			delete(obj(t, function(t, r), "Environment", "Variables"), config.EnvMetricsNS)
		}, "does not set environment variable " + config.EnvMetricsNS},
		{"GOMAXPROCS missing", "environment", func(t *testing.T, r map[string]any) {
			delete(obj(t, function(t, r), "Environment", "Variables"), "GOMAXPROCS")
		}, "does not set the Go runtime's GOMAXPROCS=1"},
		{"GOMAXPROCS changed", "environment", func(t *testing.T, r map[string]any) {
			obj(t, function(t, r), "Environment", "Variables")["GOMAXPROCS"] = "2"
		}, `GOMAXPROCS is "2", want the literal "1"`},
		{"literal value", "environment", func(t *testing.T, r map[string]any) {
			obj(t, function(t, r), "Environment", "Variables")[config.EnvBaseURL] = "https://api.mch.weixin.qq.com"
		}, "want !Ref to a template Parameter"},

		// policy
		{"wildcard action", "policy", func(t *testing.T, r map[string]any) {
			statements(t, r)[0].(map[string]any)["Action"] = "secretsmanager:*"
		}, "wildcard"},
		{"wildcard resource", "policy", func(t *testing.T, r map[string]any) {
			statements(t, r)[0].(map[string]any)["Resource"] = "*"
		}, "wildcard"},
		{"secret read on another resource", "policy", func(t *testing.T, r map[string]any) {
			statements(t, r)[0].(map[string]any)["Resource"] = []any{ref(secretParam), ref(keyParam)}
		}, "on !Ref SecretArn only"},
		{"extra action", "policy", func(t *testing.T, r map[string]any) {
			statements(t, r)[0].(map[string]any)["Action"] = []any{"secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"}
		}, "does not need"},
		{"extra statement", "policy", func(t *testing.T, r map[string]any) {
			docs := function(t, r)["Policies"].([]any)
			d := docs[0].(map[string]any)
			d["Statement"] = append(d["Statement"].([]any), map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/key"})
		}, "does not need"},
		{"kms not conditional", "policy", func(t *testing.T, r map[string]any) {
			s := statements(t, r)
			s[1] = s[1].(map[string]any)["Fn::If"].([]any)[1]
		}, "must sit under an !If"},
		{"kms in the else branch", "policy", func(t *testing.T, r map[string]any) {
			args := statements(t, r)[1].(map[string]any)["Fn::If"].([]any)
			args[1], args[2] = args[2], args[1]
		}, "must sit under an !If"},
		{"kms not via Secrets Manager", "policy", func(t *testing.T, r map[string]any) {
			delete(statements(t, r)[1].(map[string]any)["Fn::If"].([]any)[1].(map[string]any), "Condition")
		}, "kms:ViaService"},
		{"SAM policy template", "policy", func(t *testing.T, r map[string]any) {
			f := function(t, r)
			f["Policies"] = append(f["Policies"].([]any), map[string]any{"AWSSecretsManagerGetSecretValuePolicy": map[string]any{"SecretArn": ref(secretParam)}})
		}, "only inline policy documents"},
		{"managed policy", "policy", func(t *testing.T, r map[string]any) {
			f := function(t, r)
			f["Policies"] = append(f["Policies"].([]any), "SecretsManagerReadWrite")
		}, "only inline policy documents"},
		{"own role", "policy", func(t *testing.T, r map[string]any) {
			function(t, r)["Role"] = "arn:aws:iam::123456789012:role/admin"
		}, "Role is set"},
		{"IAM resource", "policy", func(t *testing.T, r map[string]any) {
			obj(t, r, "Resources")["ExtraPolicy"] = map[string]any{"Type": "AWS::IAM::Policy", "Properties": map[string]any{}}
		}, "AWS::IAM::Policy"},
		{"no secret read", "policy", func(t *testing.T, r map[string]any) {
			statements(t, r)[0].(map[string]any)["Action"] = "secretsmanager:DescribeSecret"
		}, "cannot read its secret"},

		// api
		{"route path", "api", func(t *testing.T, r map[string]any) {
			obj(t, function(t, r), "Events", "GetContracts", "Properties")["Path"] = "/users/{id}/contracts"
		}, "path parameters"},
		{"route method", "api", func(t *testing.T, r map[string]any) {
			obj(t, function(t, r), "Events", "GetContracts", "Properties")["Method"] = "ANY"
		}, "want exactly"},
		{"default authorizer", "api", func(t *testing.T, r map[string]any) {
			obj(t, r, "Resources", apiID, "Properties", "Auth")["DefaultAuthorizer"] = "NONE"
		}, "DefaultAuthorizer"},
		{"IAM authorizer off", "api", func(t *testing.T, r map[string]any) {
			delete(obj(t, r, "Resources", apiID, "Properties", "Auth"), "EnableIamAuthorizer")
		}, "EnableIamAuthorizer"},
		{"event Authorizer NONE", "api", func(t *testing.T, r map[string]any) {
			obj(t, function(t, r), "Events", "GetContracts", "Properties")["Auth"] = map[string]any{"Authorizer": "NONE"}
		}, "Authorizer NONE"},
		{"event on the implicit API", "api", func(t *testing.T, r map[string]any) {
			obj(t, function(t, r), "Events")["Open"] = map[string]any{"Type": "HttpApi", "Properties": map[string]any{"Path": "/open", "Method": "GET"}}
		}, "implicit API"},
		{"Function URL", "api", func(t *testing.T, r map[string]any) {
			function(t, r)["FunctionUrlConfig"] = map[string]any{"AuthType": "NONE"}
		}, "FunctionUrlConfig"},
		{"public invoke permission", "api", func(t *testing.T, r map[string]any) {
			obj(t, r, "Resources")["Open"] = map[string]any{"Type": "AWS::Lambda::Permission", "Properties": map[string]any{
				"Action": "lambda:InvokeFunction", "FunctionName": ref(functionID), "Principal": "*"}}
		}, "any principal"},
		{"no throttling", "api", func(t *testing.T, r map[string]any) {
			delete(obj(t, r, "Resources", apiID, "Properties"), "DefaultRouteSettings")
		}, "throttled"},

		// references
		{"dangling Ref", "references", func(t *testing.T, r map[string]any) {
			obj(t, function(t, r), "Environment", "Variables")[config.EnvLogLevel] = ref("NoSuchParameter")
		}, "!Ref NoSuchParameter"},
		{"dangling GetAtt", "references", func(t *testing.T, r map[string]any) {
			obj(t, r, "Outputs", "FunctionArn")["Value"] = map[string]any{"Fn::GetAtt": []any{"NoSuchFunction", "Arn"}}
		}, "!GetAtt NoSuchFunction"},
		{"dangling Sub variable", "references", func(t *testing.T, r map[string]any) {
			obj(t, r, "Outputs", "ApiUrl")["Value"] = map[string]any{"Fn::Sub": "https://${NoSuchApi}.execute-api.${AWS::Region}.amazonaws.com"}
		}, "${NoSuchApi}"},
		{"dangling Sub attribute", "references", func(t *testing.T, r map[string]any) {
			obj(t, r, "Outputs", "ApiUrl")["Value"] = map[string]any{"Fn::Sub": "${NoSuchApi.ApiEndpoint}/users"}
		}, "${NoSuchApi.ApiEndpoint}"},
		{"dangling If", "references", func(t *testing.T, r map[string]any) {
			statements(t, r)[1].(map[string]any)["Fn::If"].([]any)[0] = "NoSuchCondition"
		}, "!If NoSuchCondition"},
		{"dangling output Condition", "references", func(t *testing.T, r map[string]any) {
			obj(t, r, "Outputs", "ApiUrl")["Condition"] = "NoSuchCondition"
		}, "Condition NoSuchCondition"},
		{"dangling DependsOn", "references", func(t *testing.T, r map[string]any) {
			obj(t, r, "Resources", apiID)["DependsOn"] = "NoSuchResource"
		}, "NoSuchResource names no resource"},
		{"SAM-generated name", "references", func(t *testing.T, r map[string]any) {
			obj(t, r, "Outputs")["Role"] = map[string]any{"Value": map[string]any{"Fn::GetAtt": []any{functionID + "Role", "Arn"}}}
		}, "!GetAtt " + functionID + "Role"},
	}
	good := load(t)
	cs := checks()
	for _, tt := range tests {
		t.Run(tt.check+"/"+tt.name, func(t *testing.T) {
			broken := good.Clone()
			tt.breaks(t, broken.Root())
			errs := cs[tt.check](broken)
			if len(errs) == 0 {
				t.Fatalf("the %s check passed a template broken by %s", tt.check, tt.name)
			}
			var msgs []string
			for _, err := range errs {
				msgs = append(msgs, err.Error())
			}
			if all := strings.Join(msgs, "\n"); !strings.Contains(all, tt.want) {
				t.Errorf("errors do not mention %q:\n%s", tt.want, all)
			}
			if errs := cs[tt.check](good); len(errs) != 0 {
				t.Errorf("Clone shares state with the original: the good template now fails: %v", errs)
			}
		})
	}
}

// TestParseShortForms shows that short-form tags become the long form the
// checks look for, whatever the argument looks like.
func TestParseShortForms(t *testing.T) {
	tpl, err := deploy.Parse([]byte(`
Conditions:
  HasKey: !Not [!Equals [!Ref Key, '']]
  Both: !And [!Condition HasKey, !Equals [1, 1]]
Resources:
  R:
    Type: X
    Properties:
      A: !Ref AWS::Region
      B: !GetAtt Fn.Arn
      C: !GetAtt [Fn, Arn]
      D: !Sub 'https://${Api}.example/${!Literal}'
      E: !Sub ['${X}-${AWS::StackName}', {X: !Ref Name}]
      F: !If [HasKey, !Ref Key, !Ref AWS::NoValue]
      G: !Ref 123
      H: 256
      I: true
      J: '256'
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"Conditions": map[string]any{
			"HasKey": map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{ref("Key"), ""}}}},
			"Both":   map[string]any{"Fn::And": []any{map[string]any{"Condition": "HasKey"}, map[string]any{"Fn::Equals": []any{1, 1}}}},
		},
		"Resources": map[string]any{"R": map[string]any{"Type": "X", "Properties": map[string]any{
			"A": ref("AWS::Region"),
			"B": map[string]any{"Fn::GetAtt": []any{"Fn", "Arn"}},
			"C": map[string]any{"Fn::GetAtt": []any{"Fn", "Arn"}},
			"D": map[string]any{"Fn::Sub": "https://${Api}.example/${!Literal}"},
			"E": map[string]any{"Fn::Sub": []any{"${X}-${AWS::StackName}", map[string]any{"X": ref("Name")}}},
			"F": map[string]any{"Fn::If": []any{"HasKey", ref("Key"), ref("AWS::NoValue")}},
			"G": ref("123"),
			"H": 256,
			"I": true,
			"J": "256",
		}}},
	}
	if !reflect.DeepEqual(tpl.Root(), want) {
		t.Errorf("parsed\n%#v\nwant\n%#v", tpl.Root(), want)
	}

	for name, bad := range map[string]string{
		"unknown tag":   "A: !Refs X\n",
		"duplicate key": "A: 1\nA: 2\n",
		"GetAtt no dot": "A: !GetAtt Fn\n",
		"two documents": "A: 1\n---\nB: 2\n",
		"not a mapping": "- A\n",
	} {
		if _, err := deploy.Parse([]byte(bad)); err == nil {
			t.Errorf("%s: Parse accepted it", name)
		}
	}
}

// TestReferencesResolve shows what CheckReferences accepts: Sub escapes and
// variables, pseudo parameters, and names of each kind.
func TestReferencesResolve(t *testing.T) {
	tpl, err := deploy.Parse([]byte(`
Parameters:
  Name: {Type: String}
Conditions:
  HasName: !Not [!Equals [!Ref Name, '']]
  Also: !And [!Condition HasName, !Condition HasName]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Condition: HasName
    DependsOn: [Other]
    Properties:
      A: !Sub '${!NotAVariable} ${Own} ${Fn.Arn} ${Name} ${AWS::Partition}'
      B: !Sub ['${Own}', {Own: !Ref Name}]
      C: !If [HasName, !GetAtt Other.Arn, !Ref AWS::NoValue]
      D: {Statement: [{Condition: {StringEquals: {k: v}}}]}
  Other: {Type: X}
`))
	if err != nil {
		t.Fatal(err)
	}
	errs := deploy.CheckReferences(tpl)
	// Only the ${Own} of A, which has no variable map, is dangling.
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "${Own}") {
		t.Errorf("CheckReferences = %v, want exactly one error, for ${Own}", errs)
	}
}

// TestCfnLint runs cfn-lint, which knows CloudFormation's and SAM's
// schemas, on template.yaml. Its absence fails the test: set CFN_LINT=skip
// to skip it on purpose.
func TestCfnLint(t *testing.T) {
	if os.Getenv("CFN_LINT") == "skip" {
		t.Skip("CFN_LINT=skip: cfn-lint not run on template.yaml")
	}
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal("cfn-lint is not on PATH, so template.yaml was not linted. Install it with `pip install cfn-lint` " +
			"(it brings aws-sam-translator for the SAM transform), or set CFN_LINT=skip to skip this test on purpose.")
	}
	lint := func(t *testing.T, dir, file string) (code int, out string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "--format", "parseable", "--", file)
		cmd.Dir = dir
		b, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Fatalf("running cfn-lint: %v", err)
		}
		// cfn-lint's exit code is a bit set: 2 errors, 4 warnings, 8
		// informational; anything else means it did not lint.
		if code&^(2|4|8) != 0 {
			t.Fatalf("cfn-lint failed (exit code %d):\n%s", code, b)
		}
		return code, string(b)
	}

	t.Run("template.yaml", func(t *testing.T) {
		code, out := lint(t, repoRoot, "template.yaml")
		if code&2 != 0 {
			t.Errorf("cfn-lint found errors in template.yaml:\n%s", out)
		} else if code != 0 {
			t.Logf("cfn-lint warnings or notes (not failures):\n%s", out)
		}
	})
	t.Run("catches a broken template", func(t *testing.T) {
		dir := t.TempDir()
		broken := "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: go0.x\n"
		if err := os.WriteFile(filepath.Join(dir, "template.yaml"), []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out := lint(t, dir, "template.yaml"); code&2 == 0 {
			t.Errorf("cfn-lint reported no error for a broken template (exit %d):\n%s", code, out)
		}
	})
}
