// Command apidocs renders a CRD's OpenAPI schema as a Markdown API
// reference: one table per object, every field with its type, whether it is
// required, its description (the Go doc comment) and its validation. make
// manifests runs it, so the reference never drifts from the types.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: apidocs CRD.yaml")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &crd); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	v := crd.Spec.Versions[0]
	var b strings.Builder
	fmt.Fprintf(&b, "# %s API reference\n\n", crd.Spec.Names.Kind)
	fmt.Fprintf(&b, "Generated from `config/crd/bases` by `make manifests`; do not edit. `kubectl explain %s.spec` shows the same text.\n\n",
		crd.Spec.Names.Singular)
	fmt.Fprintf(&b, "Group `%s`, version `%s`, kind `%s`, short names `%s`, categories `%s`.\n\n",
		crd.Spec.Group, v.Name, crd.Spec.Names.Kind, strings.Join(crd.Spec.Names.ShortNames, "`, `"), strings.Join(crd.Spec.Names.Categories, "`, `"))
	root := v.Schema.OpenAPIV3Schema.Properties
	for _, top := range []string{"spec", "status"} {
		s := root[top]
		render(&b, top, &s)
	}
	fmt.Print(b.String())
}

// render writes the object at path and then, depth first, its nested objects.
func render(b *strings.Builder, path string, s *apiextensionsv1.JSONSchemaProps) {
	if s.Type == "array" && s.Items != nil && s.Items.Schema != nil {
		render(b, path+"[]", s.Items.Schema)
		return
	}
	if len(s.Properties) == 0 {
		return
	}
	fmt.Fprintf(b, "## `%s`\n\n", path)
	if s.Description != "" {
		fmt.Fprintf(b, "%s\n\n", oneParagraph(s.Description))
	}
	for _, rule := range s.XValidations {
		fmt.Fprintf(b, "- Rule: %s\n", rule.Message)
	}
	if len(s.XValidations) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("| field | type | required | description |\n| --- | --- | --- | --- |\n")
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	required := map[string]bool{}
	for _, r := range s.Required {
		required[r] = true
	}
	for _, n := range names {
		p := s.Properties[n]
		req := ""
		if required[n] {
			req = "yes"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", n, typeOf(&p), req, cell(describe(&p)))
	}
	b.WriteString("\n")
	for _, n := range names {
		p := s.Properties[n]
		render(b, path+"."+n, &p)
	}
}

func typeOf(s *apiextensionsv1.JSONSchemaProps) string {
	switch {
	case s.Type == "array" && s.Items != nil && s.Items.Schema != nil:
		return "[]" + typeOf(s.Items.Schema)
	case s.Type == "":
		return "any"
	case s.Type == "object" && s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil:
		return "map[string]" + typeOf(s.AdditionalProperties.Schema)
	}
	return s.Type
}

func describe(s *apiextensionsv1.JSONSchemaProps) string {
	d := oneParagraph(s.Description)
	var notes []string
	if s.Default != nil {
		notes = append(notes, "default `"+string(s.Default.Raw)+"`")
	}
	if len(s.Enum) > 0 {
		var vals []string
		for _, e := range s.Enum {
			vals = append(vals, "`"+strings.Trim(string(e.Raw), `"`)+"`")
		}
		notes = append(notes, "one of "+strings.Join(vals, ", "))
	}
	if s.Minimum != nil {
		notes = append(notes, fmt.Sprintf("minimum %g", *s.Minimum))
	}
	if s.Maximum != nil {
		notes = append(notes, fmt.Sprintf("maximum %g", *s.Maximum))
	}
	if s.Pattern != "" {
		notes = append(notes, "pattern `"+s.Pattern+"`")
	}
	if len(notes) > 0 {
		d += " (" + strings.Join(notes, "; ") + ")"
	}
	return d
}

func oneParagraph(s string) string { return strings.Join(strings.Fields(s), " ") }

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
