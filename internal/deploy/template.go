// Package deploy holds the SAM template (template.yaml at the repository
// root) to the code, which no linter can: cfn-lint knows CloudFormation, not
// which environment variables internal/config reads or which route the
// function answers.
//
// Parse reads a template into plain Go values (map[string]any, []any,
// string, int, float64, bool, nil) with CloudFormation's short-form tags
// rewritten to their long form (!Ref X becomes {"Ref": "X"}, !Sub s becomes
// {"Fn::Sub": s}, !GetAtt A.B becomes {"Fn::GetAtt": ["A", "B"]}), so that
// each Check function sees one shape whichever form the author wrote. The
// Check functions take a parsed Template and report every problem they
// find, so that tests can also feed them a deliberately broken copy.
package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is a parsed CloudFormation (SAM) template.
type Template struct {
	root map[string]any
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse parses a YAML template. It refuses what CloudFormation refuses and
// a plain YAML decoder would let through: duplicate keys, non-string keys,
// tags that are not CloudFormation intrinsic functions, and more than one
// document.
func Parse(data []byte) (*Template, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("more than one YAML document")
	}
	v, err := convert(&doc)
	if err != nil {
		return nil, err
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the template is not a mapping")
	}
	return &Template{root: root}, nil
}

// Root returns the template's top-level mapping. It is the template itself,
// not a copy: tests edit a Clone's Root to build broken templates.
func (t *Template) Root() map[string]any { return t.root }

// Clone returns a deep copy of t.
func (t *Template) Clone() *Template {
	return &Template{root: deepCopy(t.root).(map[string]any)}
}

// Section returns a top-level section (Parameters, Resources, Conditions,
// Outputs, Globals, …), or nil when the template has none.
func (t *Template) Section(name string) map[string]any {
	m, _ := t.root[name].(map[string]any)
	return m
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = deepCopy(e)
		}
		return s
	default:
		return v
	}
}

// longForm names the CloudFormation function of a YAML short-form tag
// (!Ref and !Condition have no Fn:: prefix in their long form).
func longForm(tag string) (string, bool) {
	switch tag {
	case "!Ref", "!Condition":
		return tag[1:], true
	case "!Base64", "!Cidr", "!FindInMap", "!GetAtt", "!GetAZs", "!ImportValue",
		"!Join", "!Select", "!Split", "!Sub", "!Transform", "!Length", "!ToJsonString",
		"!And", "!Equals", "!If", "!Not", "!Or":
		return "Fn::" + tag[1:], true
	}
	return "", false
}

func convert(n *yaml.Node) (any, error) {
	if fn, ok := longForm(n.Tag); ok {
		return convertIntrinsic(fn, n)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return nil, fmt.Errorf("line %d: %s is not a CloudFormation intrinsic function", n.Line, n.Tag)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, errors.New("empty document")
		}
		return convert(n.Content[0])
	case yaml.AliasNode:
		return convert(n.Alias)
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: keys must be plain strings", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := convert(vn)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// convertIntrinsic turns a short-form tagged node into its long form.
func convertIntrinsic(fn string, n *yaml.Node) (any, error) {
	var arg any
	if n.Kind == yaml.ScalarNode {
		// The argument of !Ref, !Sub, !GetAtt … is a name or text, never a
		// number or boolean, whatever it looks like.
		arg = n.Value
	} else {
		untagged := *n
		untagged.Tag = ""
		var err error
		if arg, err = convert(&untagged); err != nil {
			return nil, err
		}
	}
	if fn == "Fn::GetAtt" {
		if s, ok := arg.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %s: want Resource.Attribute", n.Line, s)
			}
			arg = []any{res, attr}
		}
	}
	return map[string]any{fn: arg}, nil
}

func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		return strconv.ParseBool(strings.ToLower(n.Value))
	case "!!int":
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return int(i), nil
	case "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return f, nil
	default:
		return n.Value, nil
	}
}
