package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// problems collects what a check finds, so that one run reports all of it.
type problems []error

func (p *problems) addf(format string, args ...any) {
	*p = append(*p, fmt.Errorf(format, args...))
}

// resource returns the resource logicalID, or nil.
func (t *Template) resource(logicalID string) map[string]any {
	r, _ := t.Section("Resources")[logicalID].(map[string]any)
	return r
}

// serverlessFunction returns the Properties of the AWS::Serverless::Function
// logicalID, or reports why it cannot.
func (t *Template) serverlessFunction(logicalID string, p *problems) (map[string]any, bool) {
	r := t.resource(logicalID)
	if r == nil {
		p.addf("Resources.%s: no such resource", logicalID)
		return nil, false
	}
	if typ := r["Type"]; typ != "AWS::Serverless::Function" {
		p.addf("Resources.%s: Type is %s, want AWS::Serverless::Function", logicalID, show(typ))
		return nil, false
	}
	props, _ := r["Properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	return props, true
}

// functionProperty returns a function property, falling back to
// Globals.Function as SAM's transform does.
func (t *Template) functionProperty(props map[string]any, name string) (any, bool) {
	if v, ok := props[name]; ok {
		return v, true
	}
	g, _ := t.Section("Globals")["Function"].(map[string]any)
	v, ok := g[name]
	return v, ok
}

// show renders a template value for a message, in its JSON (long) form.
func show(v any) string {
	if v == nil {
		return "nothing"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// lookup follows keys through nested mappings.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// isRef reports whether v is {"Ref": name}.
func isRef(v any, name string) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 1 && m["Ref"] == name
}

// refName returns the X of {"Ref": X}.
func refName(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	s, ok := m["Ref"].(string)
	return s, ok
}

// asList returns v as a list: v itself, or a one-element list of it (IAM
// and SAM accept either for Action, Resource, Statement and Policies).
func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// CheckFunction checks how the function logicalID is built and run:
// Handler bootstrap, Runtime provided.al2023, Architectures [arm64], CodeUri
// ".", Metadata.BuildMethod makefile (the custom runtime is built by the
// Makefile, not by SAM's Go builder), MemorySize within Lambda's 128–10240
// MB, Timeout under API Gateway's 30-second integration limit, and JSON
// logs (the function logs with log/slog's JSON handler and relies on
// Lambda's ApplicationLogLevel filtering, which needs LogFormat JSON).
func CheckFunction(t *Template, logicalID string) []error {
	var p problems
	props, ok := t.serverlessFunction(logicalID, &p)
	if !ok {
		return p
	}
	prop := func(name string) any { v, _ := t.functionProperty(props, name); return v }
	want := func(name string, got, want any) {
		if got != want {
			p.addf("Resources.%s.%s is %s, want %s", logicalID, name, show(got), show(want))
		}
	}
	want("Properties.Handler", prop("Handler"), "bootstrap")
	want("Properties.Runtime", prop("Runtime"), "provided.al2023")
	want("Properties.CodeUri", prop("CodeUri"), ".")
	if a := asList(prop("Architectures")); len(a) != 1 || a[0] != "arm64" {
		p.addf("Resources.%s.Properties.Architectures is %s, want [arm64]", logicalID, show(prop("Architectures")))
	}
	want("Metadata.BuildMethod", lookup(t.resource(logicalID), "Metadata", "BuildMethod"), "makefile")

	if m, ok := prop("MemorySize").(int); !ok || m < 128 || m > 10240 {
		p.addf("Resources.%s.Properties.MemorySize is %s, want a literal number of MB from 128 to 10240", logicalID, show(prop("MemorySize")))
	}
	if s, ok := prop("Timeout").(int); !ok || s < 1 || s >= 30 {
		p.addf("Resources.%s.Properties.Timeout is %s, want a literal number of seconds under 30 (API Gateway's integration limit)", logicalID, show(prop("Timeout")))
	}
	want("Properties.LoggingConfig.LogFormat", lookup(prop("LoggingConfig"), "LogFormat"), "JSON")
	return p
}

// CheckEnvironment checks that the function logicalID sets exactly the
// environment variables in want (the ones the code reads), no more and no
// fewer, counting Globals.Function's, and that each value comes from a
// template Parameter, so that every setting can be changed at deploy time
// without editing the template. The Go runtime's variables in runtime
// (NAME=value) must be set too, to exactly their literal values.
func CheckEnvironment(t *Template, logicalID string, want, runtime []string) []error {
	var p problems
	props, ok := t.serverlessFunction(logicalID, &p)
	if !ok {
		return p
	}
	vars := map[string]any{}
	for _, env := range []any{lookup(t.Section("Globals"), "Function", "Environment"), props["Environment"]} {
		if env == nil {
			continue
		}
		m, ok := lookup(env, "Variables").(map[string]any)
		if !ok {
			p.addf("Resources.%s: Environment.Variables must be a literal mapping, so that its names can be checked", logicalID)
			continue
		}
		maps.Copy(vars, m)
	}
	for _, kv := range runtime {
		name, value, _ := strings.Cut(kv, "=")
		got, ok := vars[name]
		if !ok {
			p.addf("Resources.%s does not set the Go runtime's %s=%s (config.GoRuntimeEnv)", logicalID, name, value)
			continue
		}
		if got != value {
			p.addf("Resources.%s: %s is %s, want the literal %q (config.GoRuntimeEnv)", logicalID, name, show(got), value)
		}
		delete(vars, name)
	}
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if !slices.Contains(want, name) {
			p.addf("Resources.%s sets environment variable %s, which the code does not read (config.Variables)", logicalID, name)
			continue
		}
		param, ok := refName(vars[name])
		if !ok || t.Section("Parameters")[param] == nil {
			p.addf("Resources.%s: environment variable %s is %s, want !Ref to a template Parameter", logicalID, name, show(vars[name]))
		}
	}
	for _, name := range want {
		if _, ok := vars[name]; !ok {
			p.addf("Resources.%s does not set environment variable %s, which the code reads (config.Variables)", logicalID, name)
		}
	}
	return p
}

// CheckPolicy checks that the function logicalID is granted exactly what it
// needs: secretsmanager:GetSecretValue on !Ref secretParam, and kms:Decrypt
// on !Ref keyParam, the latter only under an !If on a condition that tests
// keyParam and only via Secrets Manager (a kms:ViaService condition). It
// refuses wildcards in actions and resources, Deny/NotAction/NotResource
// forms, managed policies and SAM policy templates (whose grants this check
// cannot see), an externally supplied Role, and any IAM resource of the
// template's own. SAM's own additions (CloudWatch Logs, and X-Ray for
// Tracing: Active) are not in the template and not checked here.
func CheckPolicy(t *Template, logicalID, secretParam, keyParam string) []error {
	var p problems
	props, ok := t.serverlessFunction(logicalID, &p)
	if !ok {
		return p
	}
	at := "Resources." + logicalID + ".Properties"
	if _, ok := props["Role"]; ok {
		p.addf("%s.Role is set: the function must use the role SAM builds from Policies, which this check can see", at)
	}
	for _, id := range slices.Sorted(maps.Keys(t.Section("Resources"))) {
		if typ, _ := lookup(t.resource(id), "Type").(string); strings.HasPrefix(typ, "AWS::IAM::") {
			p.addf("Resources.%s is an %s: permissions belong in %s.Policies", id, typ, at)
		}
	}
	var haveSecret, haveKey bool
	for i, doc := range asList(props["Policies"]) {
		stmts := lookup(doc, "Statement")
		if stmts == nil {
			p.addf("%s.Policies[%d] is %s: only inline policy documents (with Statement) are allowed, not managed policies or SAM policy templates", at, i, show(doc))
			continue
		}
		for j, s := range asList(stmts) {
			where := fmt.Sprintf("%s.Policies[%d].Statement[%d]", at, i, j)
			for _, b := range branches(s, "") {
				sk, ak := checkStatement(t, where, b.stmt, b.condition, secretParam, keyParam, &p)
				haveSecret = haveSecret || sk
				haveKey = haveKey || ak
			}
		}
	}
	if !haveSecret {
		p.addf("%s.Policies does not allow secretsmanager:GetSecretValue on !Ref %s: the function cannot read its secret", at, secretParam)
	}
	if keyParam != "" && !haveKey {
		p.addf("%s.Policies does not allow kms:Decrypt on !Ref %s: a secret under a customer managed key cannot be read", at, keyParam)
	}
	return p
}

type branch struct {
	stmt      any
	condition string // the !If condition guarding stmt, if any
}

// branches expands !If into the statements it may yield (AWS::NoValue
// yields none), each with the condition it depends on.
func branches(s any, cond string) []branch {
	if args, ok := lookup(s, "Fn::If").([]any); ok && len(args) == 3 {
		c, _ := args[0].(string)
		var out []branch
		for i, a := range args[1:] {
			if isRef(a, "AWS::NoValue") {
				continue
			}
			guard := c
			if i == 1 {
				guard = "!" + c // the else branch: true when c is false
			}
			out = append(out, branches(a, guard)...)
		}
		return out
	}
	return []branch{{stmt: s, condition: cond}}
}

// checkStatement checks one IAM statement and reports whether it grants the
// secret read and the key decrypt.
func checkStatement(t *Template, where string, s any, cond, secretParam, keyParam string, p *problems) (secret, key bool) {
	m, ok := s.(map[string]any)
	if !ok {
		p.addf("%s is %s, want a statement", where, show(s))
		return false, false
	}
	if m["Effect"] != "Allow" {
		p.addf("%s: Effect is %s, want Allow", where, show(m["Effect"]))
	}
	for _, k := range []string{"NotAction", "NotResource", "Principal", "NotPrincipal"} {
		if _, ok := m[k]; ok {
			p.addf("%s uses %s, which grants more than it names", where, k)
		}
	}
	resources := asList(m["Resource"])
	for _, r := range resources {
		if s, ok := r.(string); ok && strings.Contains(s, "*") {
			p.addf("%s: Resource %q has a wildcard", where, s)
		}
	}
	onlyRef := func(param string) bool { return len(resources) == 1 && isRef(resources[0], param) }
	for _, a := range asList(m["Action"]) {
		action, _ := a.(string)
		switch {
		case strings.Contains(action, "*"):
			p.addf("%s: Action %q has a wildcard", where, action)
		case strings.EqualFold(action, "secretsmanager:GetSecretValue"):
			if !onlyRef(secretParam) {
				p.addf("%s: secretsmanager:GetSecretValue must be on !Ref %s only, not %s", where, secretParam, show(m["Resource"]))
				continue
			}
			secret = true
		case strings.EqualFold(action, "kms:Decrypt") && keyParam != "":
			if !onlyRef(keyParam) {
				p.addf("%s: kms:Decrypt must be on !Ref %s only, not %s", where, keyParam, show(m["Resource"]))
				continue
			}
			if !conditionTests(t, cond, keyParam) {
				p.addf("%s: kms:Decrypt must sit under an !If whose condition tests %s (it is optional), not %q", where, keyParam, cond)
				continue
			}
			if lookup(m, "Condition", "StringEquals", "kms:ViaService") == nil {
				p.addf("%s: kms:Decrypt must be limited by a StringEquals kms:ViaService condition to Secrets Manager", where)
				continue
			}
			key = true
		default:
			p.addf("%s grants %s, which the function does not need (it may only read its secret and decrypt it)", where, show(a))
		}
	}
	return secret, key
}

// conditionTests reports whether the template condition cond (not negated)
// exists and refers to the parameter param.
func conditionTests(t *Template, cond, param string) bool {
	c, ok := t.Section("Conditions")[cond]
	if !ok {
		return false
	}
	found := false
	walk(c, "", func(_ string, m map[string]any) {
		if isRef(m, param) {
			found = true
		}
	})
	return found
}

// CheckAPI checks how the function logicalID is reached: one HttpApi event
// on the template's AWS::Serverless::HttpApi apiID, for method and path
// (whose only path parameter must be openid); the API's DefaultAuthorizer
// AWS_IAM with EnableIamAuthorizer (so every route needs SigV4) and stage
// throttling; and no way around it anywhere in the template: no event with
// Authorizer NONE, no event on SAM's implicit (unauthenticated) API, no
// Function URL, no Lambda permission for any principal "*".
func CheckAPI(t *Template, logicalID, apiID, method, path string) []error {
	var p problems
	api := t.resource(apiID)
	if typ := lookup(api, "Type"); typ != "AWS::Serverless::HttpApi" {
		p.addf("Resources.%s: Type is %s, want AWS::Serverless::HttpApi", apiID, show(typ))
	}
	at := "Resources." + apiID + ".Properties"
	if a := lookup(api, "Properties", "Auth", "DefaultAuthorizer"); a != "AWS_IAM" {
		p.addf("%s.Auth.DefaultAuthorizer is %s, want AWS_IAM", at, show(a))
	}
	if e := lookup(api, "Properties", "Auth", "EnableIamAuthorizer"); e != true {
		p.addf("%s.Auth.EnableIamAuthorizer is %s, want true", at, show(e))
	}
	for _, k := range []string{"ThrottlingBurstLimit", "ThrottlingRateLimit"} {
		if lookup(api, "Properties", "DefaultRouteSettings", k) == nil {
			p.addf("%s.DefaultRouteSettings.%s is not set: the stage must be throttled", at, k)
		}
	}

	if props, ok := t.serverlessFunction(logicalID, &p); ok {
		events, _ := props["Events"].(map[string]any)
		var routes []string
		for _, name := range slices.Sorted(maps.Keys(events)) {
			e := events[name]
			if lookup(e, "Type") != "HttpApi" || !isRef(lookup(e, "Properties", "ApiId"), apiID) {
				continue
			}
			m, _ := lookup(e, "Properties", "Method").(string)
			pa, _ := lookup(e, "Properties", "Path").(string)
			routes = append(routes, strings.ToUpper(m)+" "+pa)
			if params := pathParameters(pa); !slices.Equal(params, pathParameters(path)) {
				p.addf("Resources.%s.Properties.Events.%s: path parameters are %q, want %q", logicalID, name, params, pathParameters(path))
			}
		}
		if want := strings.ToUpper(method) + " " + path; len(routes) != 1 || routes[0] != want {
			p.addf("Resources.%s: HttpApi routes on %s are %q, want exactly [%q]", logicalID, apiID, routes, want)
		}
	}

	globalURL := lookup(t.Section("Globals"), "Function", "FunctionUrlConfig")
	if globalURL != nil {
		p.addf("Globals.Function.FunctionUrlConfig is set: the function must be reached through %s only", apiID)
	}
	for _, id := range slices.Sorted(maps.Keys(t.Section("Resources"))) {
		r := t.resource(id)
		switch lookup(r, "Type") {
		case "AWS::Lambda::Url":
			p.addf("Resources.%s is a Function URL: the function must be reached through %s only", id, apiID)
		case "AWS::Lambda::Permission":
			if lookup(r, "Properties", "Principal") == "*" {
				p.addf("Resources.%s lets any principal invoke a function", id)
			}
		case "AWS::Serverless::Function":
			if lookup(r, "Properties", "FunctionUrlConfig") != nil {
				p.addf("Resources.%s.Properties.FunctionUrlConfig is set: the function must be reached through %s only", id, apiID)
			}
			events, _ := lookup(r, "Properties", "Events").(map[string]any)
			for _, name := range slices.Sorted(maps.Keys(events)) {
				e := events[name]
				typ := lookup(e, "Type")
				if typ != "HttpApi" && typ != "Api" {
					continue
				}
				where := fmt.Sprintf("Resources.%s.Properties.Events.%s", id, name)
				if a := lookup(e, "Properties", "Auth", "Authorizer"); a == "NONE" {
					p.addf("%s sets Auth.Authorizer NONE: anonymous access", where)
				}
				if lookup(e, "Properties", "ApiId") == nil && lookup(e, "Properties", "RestApiId") == nil {
					p.addf("%s names no ApiId: SAM would attach it to an implicit API without an authorizer", where)
				}
			}
		}
	}
	return p
}

// pathParameters returns the names of the {parameters} (or greedy
// {parameters+}) among the segments of an API path.
func pathParameters(path string) []string {
	var names []string
	for seg := range strings.SplitSeq(path, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			if name, ok = strings.CutSuffix(name, "}"); ok {
				names = append(names, strings.TrimSuffix(name, "+"))
			}
		}
	}
	return names
}

// pseudoParameter reports whether name is an AWS pseudo parameter.
func pseudoParameter(name string) bool {
	switch name {
	case "AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
		"AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix":
		return true
	}
	return false
}

// CheckReferences checks that every reference in the template resolves
// to something the template declares: each Ref and each ${Name} of a Sub to
// a parameter, resource or pseudo parameter (or the Sub's own variable);
// each GetAtt and ${Resource.Attribute} to a resource; each !If, !Condition
// and resource or output Condition to a condition; each DependsOn to a
// resource; each FindInMap to a mapping. Names that SAM's transform
// generates (such as <Function>Role) count as dangling: they are SAM's
// implementation detail, and cfn-lint cannot see through all of them.
func CheckReferences(t *Template) []error {
	var p problems
	has := func(section, name string) bool { _, ok := t.Section(section)[name]; return ok }
	value := func(name string) bool {
		return has("Parameters", name) || has("Resources", name) || pseudoParameter(name)
	}
	walk(t.root, "", func(at string, m map[string]any) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v := m[k]
			switch k {
			case "Ref":
				if s, ok := v.(string); ok && !value(s) {
					p.addf("%s: !Ref %s names no parameter, resource or pseudo parameter", at, s)
				}
			case "Fn::GetAtt":
				if l := asList(v); len(l) > 0 {
					res, _ := l[0].(string)
					if s, ok := v.(string); ok {
						res, _, _ = strings.Cut(s, ".")
					}
					if !has("Resources", res) {
						p.addf("%s: !GetAtt %s names no resource", at, res)
					}
				}
			case "Fn::Sub":
				text, vars := subArgs(v)
				for _, name := range subVariables(text) {
					res, _, attr := strings.Cut(name, ".")
					switch {
					case attr && !has("Resources", res):
						p.addf("%s: !Sub ${%s} names no resource", at, name)
					case !attr && !value(name) && vars[name] == nil:
						p.addf("%s: !Sub ${%s} names no parameter, resource, pseudo parameter or variable of the Sub", at, name)
					}
				}
			case "Fn::If":
				if l := asList(v); len(l) > 0 {
					if c, ok := l[0].(string); !ok || !has("Conditions", c) {
						p.addf("%s: !If %v names no condition", at, l[0])
					}
				}
			case "Condition":
				// A resource's, an output's, or !Condition's; an IAM
				// statement's Condition is a mapping, not a name.
				if c, ok := v.(string); ok && !has("Conditions", c) {
					p.addf("%s: Condition %s names no condition", at, c)
				}
			case "Fn::FindInMap":
				if l := asList(v); len(l) > 0 {
					if mp, ok := l[0].(string); ok && !has("Mappings", mp) {
						p.addf("%s: !FindInMap %s names no mapping", at, mp)
					}
				}
			}
		}
	})
	for _, id := range slices.Sorted(maps.Keys(t.Section("Resources"))) {
		for _, d := range asList(lookup(t.resource(id), "DependsOn")) {
			if s, _ := d.(string); !has("Resources", s) {
				p.addf("Resources.%s.DependsOn: %v names no resource", id, d)
			}
		}
	}
	return p
}

// subArgs splits the argument of Fn::Sub into its text and its variables.
func subArgs(v any) (string, map[string]any) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	l, _ := v.([]any)
	if len(l) == 0 {
		return "", nil
	}
	s, _ := l[0].(string)
	var vars map[string]any
	if len(l) > 1 {
		vars, _ = l[1].(map[string]any)
	}
	return s, vars
}

// subVariables returns the names in the ${Name} placeholders of a Sub
// text, skipping the ${!Literal} escapes.
func subVariables(text string) []string {
	var names []string
	for {
		i := strings.Index(text, "${")
		if i < 0 {
			return names
		}
		text = text[i+2:]
		j := strings.Index(text, "}")
		if j < 0 {
			return names
		}
		if name := text[:j]; !strings.HasPrefix(name, "!") {
			names = append(names, strings.TrimSpace(name))
		}
		text = text[j+1:]
	}
}

// walk calls fn on every mapping in v, depth first, with its path.
func walk(v any, at string, fn func(at string, m map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(at, v)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			walk(v[k], join(at, k), fn)
		}
	case []any:
		for i, e := range v {
			walk(e, fmt.Sprintf("%s[%d]", at, i), fn)
		}
	}
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

// CheckAlarms holds the template's alarms to the metrics the code writes:
// every AWS::CloudWatch::Alarm reads a metric the function emits, in the
// namespace parameter the function is given, by the dimension it writes.
func CheckAlarms(t *Template, namespaceParam string, metricNames []string, dimension string) []error {
	var p problems
	known := map[string]bool{}
	for _, m := range metricNames {
		known[m] = true
	}
	alarms := 0
	for id, r := range t.Section("Resources") {
		res, _ := r.(map[string]any)
		if res["Type"] != "AWS::CloudWatch::Alarm" {
			continue
		}
		alarms++
		props, _ := res["Properties"].(map[string]any)
		if !isRef(props["Namespace"], namespaceParam) {
			p.addf("%s: Namespace %s is not !Ref %s", id, show(props["Namespace"]), namespaceParam)
		}
		if name, _ := props["MetricName"].(string); !known[name] {
			p.addf("%s: MetricName %s is not a metric the function writes", id, show(props["MetricName"]))
		}
		dims := asList(props["Dimensions"])
		if len(dims) != 1 || lookup(dims[0], "Name") != dimension {
			p.addf("%s: Dimensions %s; want the one dimension %s", id, show(props["Dimensions"]), dimension)
		}
	}
	if alarms == 0 {
		p.addf("no AWS::CloudWatch::Alarm")
	}
	return p
}
